import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';

/**
 * SVG → PNG for the report's charts with resvg (a maintained Rust SVG renderer, prebuilt per
 * platform on npm). Text is set in DejaVu Sans from the `dejavu-fonts-ttf` package rather
 * than whatever fonts the machine has, so a chart looks the same everywhere, fonts or not.
 */

let fontFiles: string[] | undefined;

function dejavuFiles(): string[] {
  if (!fontFiles) {
    const dir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((file) => join(dir, file));
  }
  return fontFiles;
}

/** The PNG is drawn at `zoom` × the SVG's size: 2 keeps text crisp on high-density screens. */
export function svgToPng(svg: string, zoom = 2): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: zoom },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles: dejavuFiles(), defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}
