import { Bitmap, type Rgb, WHITE } from './bitmap.js';
import { GLYPH_HEIGHT, textWidth } from './font.js';

/**
 * The CNN report's two pictures of its first convolution layer, drawn into a Bitmap like
 * the other charts but kept apart from them (charts.ts may be redrawn by other means):
 *
 * - conv1-kernels.png: each of conv1's kernels (6 of 5×5 for LeNet-5) as a tile, one panel
 *   after training and one at initialisation, on a diverging scale (red +, blue −, white 0)
 *   shared by the panel's tiles, so kernels compare in size as well as shape.
 * - conv1-feature-maps.png: one test digit (white on black, as MNIST stores it) and conv1's
 *   feature maps for it after relu, each map on a grey scale from 0 (black) to its own
 *   largest value (white): where each kernel fires.
 *
 * Each tile is a 1-px grey border around zoom × zoom squares, one per value; the geometry
 * is exported (kernelTilesLayout, featureMapsLayout) so tests can find any value's pixels.
 */

export const CNN_REPORT_IMAGES = ['conv1-kernels.png', 'conv1-feature-maps.png'] as const;

export interface CnnPictures {
  /** conv1's kernels, [channels, inChannels, height, width] row-major, before and after training. */
  kernels: { initial: ArrayLike<number>; trained: ArrayLike<number>; channels: number; inChannels: number; height: number; width: number };
  /** The digit the maps are of: side × side pixels in [0, 1], its index in the test set, label and the model's prediction. */
  digit: { pixels: ArrayLike<number>; side: number; label: number; predicted: number; index: number };
  /** conv1 then relu on the digit: [channels, height, width] row-major. */
  maps: { values: ArrayLike<number>; channels: number; height: number; width: number };
}

const NEGATIVE: Rgb = [33, 102, 172];
const POSITIVE: Rgb = [178, 24, 43];
const BORDER: Rgb = [150, 150, 150];
const MUTED: Rgb = [110, 110, 110];

const TEXT_SCALE = 2;
const LINE = GLYPH_HEIGHT * TEXT_SCALE;
const MARGIN = 16;
/** Between tiles, wide enough for a tile's label. */
const GAP = 14;
/** Pixels per kernel weight: a 5×5 kernel is 80×80. */
export const KERNEL_ZOOM = 16;
/** Pixels per feature-map value: a 28×28 map is 112×112. */
export const MAP_ZOOM = 4;

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const u = Math.min(1, Math.max(0, t));
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

/** The colour of w on the diverging scale whose ends are ±largest. */
export function divergingColor(w: number, largest: number): Rgb {
  const t = largest > 0 ? w / largest : 0;
  return t < 0 ? mix(WHITE, NEGATIVE, -t) : mix(WHITE, POSITIVE, t);
}

/** The grey of v on the scale from 0 (black) to largest (white). */
export function greyColor(v: number, largest: number): Rgb {
  const g = Math.round(255 * Math.min(1, Math.max(0, largest > 0 ? v / largest : 0)));
  return [g, g, g];
}

/** A tile at (x, y): the border's top-left corner; value (r, c) fills the zoom × zoom square at (x + 1 + c·zoom, y + 1 + r·zoom). */
export interface TilePosition {
  x: number;
  y: number;
  zoom: number;
}

/** Draws rows × cols values as a bordered tile with its top-left corner at (x, y). */
function drawTile(image: Bitmap, at: TilePosition, rows: number, cols: number, color: (r: number, c: number) => Rgb): void {
  const { x, y, zoom } = at;
  image.strokeRect(x, y, cols * zoom + 2, rows * zoom + 2, BORDER);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) image.fillRect(x + 1 + c * zoom, y + 1 + r * zoom, zoom, zoom, color(r, c));
}

// ---- conv1-kernels.png -------------------------------------------------------------------

export interface KernelTilesLayout {
  width: number;
  height: number;
  /** Where kernel k's in-channel c is drawn in panel p (0: after training, 1: at initialisation). */
  tile(panel: number, kernel: number, channel: number): TilePosition;
}

const KERNEL_TITLE = 'FIRST CONVOLUTION LAYER: THE KERNELS';

/**
 * The geometry of conv1-kernels.png: a title, then per panel a label line and one row of
 * tiles per input channel (one for grayscale), a tile per kernel, each numbered above.
 */
export function kernelTilesLayout(channels: number, inChannels: number, height: number, width: number): KernelTilesLayout {
  const tileWidth = width * KERNEL_ZOOM + 2;
  const tileHeight = height * KERNEL_ZOOM + 2;
  const rowHeight = LINE + 6 + tileHeight;
  const titleHeight = MARGIN + LINE + 10;
  const panelHeight = LINE + 10 + inChannels * (rowHeight + GAP);
  const gridWidth = channels * tileWidth + (channels - 1) * GAP;
  const widest = Math.max(...PANEL_LABELS.map((l) => textWidth(l, TEXT_SCALE)), textWidth(KERNEL_TITLE, TEXT_SCALE), textWidth(KERNEL_SCALE_NOTE, TEXT_SCALE));
  const imageWidth = 2 * MARGIN + Math.max(gridWidth, widest);
  const imageHeight = titleHeight + 2 * panelHeight + LINE + MARGIN;
  const left = Math.round((imageWidth - gridWidth) / 2);
  return {
    width: imageWidth,
    height: imageHeight,
    tile(panel, kernel, channel) {
      const top = titleHeight + panel * panelHeight + LINE + 10 + channel * (rowHeight + GAP) + LINE + 6;
      return { x: left + kernel * (tileWidth + GAP), y: top, zoom: KERNEL_ZOOM };
    },
  };
}

const PANEL_LABELS = ['AFTER TRAINING', 'AT INITIALISATION (HE NORMAL)'];
const KERNEL_SCALE_NOTE = 'RED +, BLUE -, WHITE 0; ONE SCALE PER PANEL, ENDS AT ITS LARGEST |W|';

/** conv1's kernels after training and at initialisation, as tiles. */
export function kernelTiles(kernels: CnnPictures['kernels']): Bitmap {
  const { channels, inChannels, height, width } = kernels;
  const layout = kernelTilesLayout(channels, inChannels, height, width);
  const image = new Bitmap(layout.width, layout.height);
  image.text(layout.width / 2, MARGIN, KERNEL_TITLE, { align: 'center', scale: TEXT_SCALE });
  const size = height * width;
  [kernels.trained, kernels.initial].forEach((weights, panel) => {
    let largest = 0;
    for (let i = 0; i < channels * inChannels * size; i++) largest = Math.max(largest, Math.abs(weights[i]));
    const first = layout.tile(panel, 0, 0);
    image.text(first.x, first.y - LINE - 6 - LINE - 10, `${PANEL_LABELS[panel]} (LARGEST |W| ${largest.toPrecision(3)})`, { scale: TEXT_SCALE, color: MUTED });
    for (let k = 0; k < channels; k++) {
      for (let c = 0; c < inChannels; c++) {
        const at = layout.tile(panel, k, c);
        const offset = (k * inChannels + c) * size;
        image.text(at.x + (width * KERNEL_ZOOM + 2) / 2, at.y - 6, inChannels === 1 ? String(k + 1) : `${k + 1}.${c + 1}`, { align: 'center', valign: 'bottom', scale: TEXT_SCALE });
        drawTile(image, at, height, width, (r, col) => divergingColor(weights[offset + r * width + col], largest));
      }
    }
  });
  image.text(layout.width / 2, layout.height - MARGIN, KERNEL_SCALE_NOTE, { align: 'center', valign: 'bottom', scale: TEXT_SCALE, color: MUTED });
  return image;
}

// ---- conv1-feature-maps.png --------------------------------------------------------------

export interface FeatureMapsLayout {
  width: number;
  height: number;
  /** The input digit's tile. */
  digit: TilePosition;
  /** Feature map k's tile. */
  map(k: number): TilePosition;
}

const MAPS_TITLE = 'FIRST CONVOLUTION LAYER: FEATURE MAPS AFTER RELU';
const MAPS_NOTE = 'EACH MAP: BLACK 0, WHITE ITS LARGEST VALUE';

/**
 * The geometry of conv1-feature-maps.png: a title, a caption line, then one row: the digit,
 * a wider gap, and the maps, each tile labelled above; a note below.
 */
export function featureMapsLayout(digitSide: number, channels: number, height: number, width: number): FeatureMapsLayout {
  const digitTile = digitSide * MAP_ZOOM + 2;
  const mapWidth = width * MAP_ZOOM + 2;
  const mapHeight = height * MAP_ZOOM + 2;
  const rowWidth = digitTile + 3 * GAP + channels * mapWidth + (channels - 1) * GAP;
  const titleHeight = MARGIN + LINE + 10 + LINE + 14;
  const top = titleHeight + LINE + 6;
  const widest = Math.max(textWidth(MAPS_TITLE, TEXT_SCALE), textWidth(MAPS_NOTE, TEXT_SCALE));
  const imageWidth = 2 * MARGIN + Math.max(rowWidth, widest);
  const imageHeight = top + Math.max(digitTile, mapHeight) + 14 + LINE + MARGIN;
  const left = Math.round((imageWidth - rowWidth) / 2);
  const firstMap = left + digitTile + 3 * GAP;
  return {
    width: imageWidth,
    height: imageHeight,
    digit: { x: left, y: top, zoom: MAP_ZOOM },
    map: (k) => ({ x: firstMap + k * (mapWidth + GAP), y: top, zoom: MAP_ZOOM }),
  };
}

/** The digit and conv1's feature maps for it, after relu. */
export function featureMaps(digit: CnnPictures['digit'], maps: CnnPictures['maps']): Bitmap {
  const { channels, height, width } = maps;
  const layout = featureMapsLayout(digit.side, channels, height, width);
  const image = new Bitmap(layout.width, layout.height);
  image.text(layout.width / 2, MARGIN, MAPS_TITLE, { align: 'center', scale: TEXT_SCALE });
  const verdict = digit.label === digit.predicted ? 'RIGHT' : 'WRONG';
  image.text(layout.width / 2, MARGIN + LINE + 10, `TEST DIGIT #${digit.index}: LABEL ${digit.label}, PREDICTED ${digit.predicted} (${verdict})`, { align: 'center', scale: TEXT_SCALE, color: MUTED });
  const { digit: at } = layout;
  image.text(at.x + (digit.side * MAP_ZOOM + 2) / 2, at.y - 6, 'INPUT', { align: 'center', valign: 'bottom', scale: TEXT_SCALE });
  drawTile(image, at, digit.side, digit.side, (r, c) => greyColor(digit.pixels[r * digit.side + c], 1));
  const size = height * width;
  for (let k = 0; k < channels; k++) {
    let largest = 0;
    for (let i = 0; i < size; i++) largest = Math.max(largest, maps.values[k * size + i]);
    const tile = layout.map(k);
    image.text(tile.x + (width * MAP_ZOOM + 2) / 2, tile.y - 6, `MAP ${k + 1}`, { align: 'center', valign: 'bottom', scale: TEXT_SCALE });
    drawTile(image, tile, height, width, (r, c) => greyColor(maps.values[k * size + r * width + c], largest));
  }
  image.text(layout.width / 2, layout.height - MARGIN, MAPS_NOTE, { align: 'center', valign: 'bottom', scale: TEXT_SCALE, color: MUTED });
  return image;
}

/** Both pictures, by file name. */
export function cnnImages(pictures: CnnPictures): Record<(typeof CNN_REPORT_IMAGES)[number], Uint8Array> {
  return {
    'conv1-kernels.png': kernelTiles(pictures.kernels).toPng(),
    'conv1-feature-maps.png': featureMaps(pictures.digit, pictures.maps).toPng(),
  };
}

export const CNN_IMAGE_CAPTIONS: Record<(typeof CNN_REPORT_IMAGES)[number], string> = {
  'conv1-kernels.png': 'The first convolution layer\'s kernels as images (red positive, blue negative, white 0; one scale per panel): after training above, the He-normal initial kernels below.',
  'conv1-feature-maps.png': 'One test digit and the first convolution layer\'s feature maps for it after relu (black 0, white the map\'s largest value): where each kernel responds.',
};
