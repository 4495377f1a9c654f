import { Bitmap, LABEL_ASCENT, LABEL_LINE, Picture, type Rgb, WHITE, labelRoom } from './bitmap.js';

/**
 * The CNN report's two pictures of its first convolution layer: the tiles drawn pixel by
 * pixel into a Bitmap, the words SVG text in DejaVu Sans on top (a Picture, see bitmap.ts):
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

const LINE = LABEL_LINE;
/** A label line's baseline, given the line's top. */
const baseline = (top: number): number => top + LABEL_ASCENT;
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

const KERNEL_TITLE = 'First convolution layer: the kernels';

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
  const widest = Math.max(...PANEL_LABELS.map((l) => labelRoom(`${l} (largest |w| 0.000)`)), labelRoom(KERNEL_TITLE), labelRoom(KERNEL_SCALE_NOTE));
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

const PANEL_LABELS = ['After training', 'At initialisation (He normal)'];
const KERNEL_SCALE_NOTE = 'Red +, blue −, white 0; one scale per panel, its ends at the panel\'s largest |w|';

/** conv1's kernels after training and at initialisation, as tiles. */
export function kernelTiles(kernels: CnnPictures['kernels']): Picture {
  const { channels, inChannels, height, width } = kernels;
  const layout = kernelTilesLayout(channels, inChannels, height, width);
  const pixels = new Bitmap(layout.width, layout.height);
  const image = new Picture(pixels);
  image.label({ x: layout.width / 2, y: baseline(MARGIN), text: KERNEL_TITLE, align: 'center', bold: true });
  const size = height * width;
  [kernels.trained, kernels.initial].forEach((weights, panel) => {
    let largest = 0;
    for (let i = 0; i < channels * inChannels * size; i++) largest = Math.max(largest, Math.abs(weights[i]));
    const first = layout.tile(panel, 0, 0);
    image.label({ x: first.x, y: baseline(first.y - LINE - 6 - LINE - 10), text: `${PANEL_LABELS[panel]} (largest |w| ${largest.toPrecision(3)})`, color: MUTED });
    for (let k = 0; k < channels; k++) {
      for (let c = 0; c < inChannels; c++) {
        const at = layout.tile(panel, k, c);
        const offset = (k * inChannels + c) * size;
        image.label({ x: at.x + (width * KERNEL_ZOOM + 2) / 2, y: baseline(at.y - 6 - LINE), text: inChannels === 1 ? String(k + 1) : `${k + 1}.${c + 1}`, align: 'center' });
        drawTile(pixels, at, height, width, (r, col) => divergingColor(weights[offset + r * width + col], largest));
      }
    }
  });
  image.label({ x: layout.width / 2, y: baseline(layout.height - MARGIN - LINE), text: KERNEL_SCALE_NOTE, align: 'center', color: MUTED });
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

const MAPS_TITLE = 'First convolution layer: feature maps after relu';
const MAPS_NOTE = 'Each map: black 0, white its largest value';
const MAPS_CAPTION_ROOM = 'Test digit #00000: label 0, predicted 0 (wrong)';

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
  const widest = Math.max(labelRoom(MAPS_TITLE), labelRoom(MAPS_NOTE), labelRoom(MAPS_CAPTION_ROOM));
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
export function featureMaps(digit: CnnPictures['digit'], maps: CnnPictures['maps']): Picture {
  const { channels, height, width } = maps;
  const layout = featureMapsLayout(digit.side, channels, height, width);
  const pixels = new Bitmap(layout.width, layout.height);
  const image = new Picture(pixels);
  image.label({ x: layout.width / 2, y: baseline(MARGIN), text: MAPS_TITLE, align: 'center', bold: true });
  const verdict = digit.label === digit.predicted ? 'right' : 'wrong';
  image.label({ x: layout.width / 2, y: baseline(MARGIN + LINE + 10), text: `Test digit #${digit.index}: label ${digit.label}, predicted ${digit.predicted} (${verdict})`, align: 'center', color: MUTED });
  const { digit: at } = layout;
  image.label({ x: at.x + (digit.side * MAP_ZOOM + 2) / 2, y: baseline(at.y - 6 - LINE), text: 'Input', align: 'center' });
  drawTile(pixels, at, digit.side, digit.side, (r, c) => greyColor(digit.pixels[r * digit.side + c], 1));
  const size = height * width;
  for (let k = 0; k < channels; k++) {
    let largest = 0;
    for (let i = 0; i < size; i++) largest = Math.max(largest, maps.values[k * size + i]);
    const tile = layout.map(k);
    image.label({ x: tile.x + (width * MAP_ZOOM + 2) / 2, y: baseline(tile.y - 6 - LINE), text: `Map ${k + 1}`, align: 'center' });
    drawTile(pixels, tile, height, width, (r, c) => greyColor(maps.values[k * size + r * width + c], largest));
  }
  image.label({ x: layout.width / 2, y: baseline(layout.height - MARGIN - LINE), text: MAPS_NOTE, align: 'center', color: MUTED });
  return image;
}

/** Both pictures, by file name. */
export function cnnImages(pictures: CnnPictures): Record<(typeof CNN_REPORT_IMAGES)[number], Picture> {
  return {
    'conv1-kernels.png': kernelTiles(pictures.kernels),
    'conv1-feature-maps.png': featureMaps(pictures.digit, pictures.maps),
  };
}

export const CNN_IMAGE_CAPTIONS: Record<(typeof CNN_REPORT_IMAGES)[number], string> = {
  'conv1-kernels.png': 'The first convolution layer\'s kernels as images (red positive, blue negative, white 0; one scale per panel): after training above, the He-normal initial kernels below.',
  'conv1-feature-maps.png': 'One test digit and the first convolution layer\'s feature maps for it after relu (black 0, white the map\'s largest value): where each kernel responds.',
};
