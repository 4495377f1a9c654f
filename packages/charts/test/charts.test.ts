import { describe, expect, it } from 'vitest';
import { SERIES_COLORS, confusionChartSpec, lineChartSpec, logTicks, renderSvg } from '@tapegrad/charts';

/** The text of every <text> element of an SVG, in document order. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

describe('lineChartSpec', () => {
  it('draws titled axes, one coloured curve per series and a legend naming them', async () => {
    const svg = await renderSvg(lineChartSpec({
      title: 'Loss per epoch', xLabel: 'epoch', yLabel: 'loss', integerX: true, yInclude: [0],
      series: [{ name: 'train', points: [[1, 0.9], [2, 0.5], [3, 0.3]] }, { name: 'test', points: [[1, 1], [2, 0.7], [3, Number.NaN]] }],
    }));
    const labels = texts(svg);
    for (const label of ['Loss per epoch', 'epoch', 'loss', 'train', 'test', '1', '2', '3', '0.0']) expect(labels).toContain(label);
    // integer x ticks only
    expect(labels).not.toContain('1.5');
    // each series' line in its colour; the NaN point is left out, not drawn at 0
    expect(svg).toContain(`stroke="${SERIES_COLORS[0]}"`);
    expect(svg).toContain(`stroke="${SERIES_COLORS[1]}"`);
    expect(svg.match(new RegExp(`fill="${SERIES_COLORS[1]}"`, 'g'))!.length).toBe(2 + 1); // 2 markers + the legend's
  });

  it('survives a single point and an empty series', async () => {
    const svg = await renderSvg(lineChartSpec({ title: 'one', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[1, 0.5]] }, { name: 'b', points: [] }] }));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(texts(svg)).toContain('one');
  });

  it('on a log axis leaves out the values it cannot show', () => {
    const spec = lineChartSpec({ title: 't', xLabel: 'step', yLabel: 'loss', logY: true, series: [{ name: 'a', points: [[0, 1], [1, 0], [2, 0.01]] }] }) as { data: { values: unknown[] } };
    expect(spec.data.values).toEqual([{ series: 'a', order: 0, x: 0, y: 1 }, { series: 'a', order: 0, x: 2, y: 0.01 }]);
  });
});

describe('confusionChartSpec', () => {
  it('writes each non-zero count in its cell, the recall of each class, and labels the axes', async () => {
    const svg = await renderSvg(confusionChartSpec([[8, 2, 0], [1, 9, 0], [0, 5, 5]], 'Confusion'));
    const labels = texts(svg);
    for (const label of ['Confusion', 'true class', 'predicted class', '8', '2', '9', '80.0%', '90.0%', '50.0%', 'recall']) expect(labels).toContain(label);
    // the zero cells are left blank: '0' is written only as the class label on each axis
    expect(labels.filter((t) => t === '0')).toHaveLength(2);
    // '5' twice in cells; '2' once as a count, twice as axis labels
    expect(labels.filter((t) => t === '5')).toHaveLength(2);
    expect(labels.filter((t) => t === '2')).toHaveLength(3);
  });
});

describe('logTicks', () => {
  it('puts ticks on powers of ten, with 2 and 5 between them over a short range', () => {
    expect(logTicks(0.0003, 0.7)).toEqual([0.001, 0.01, 0.1]);
    expect(logTicks(0.03, 0.7)).toEqual([0.05, 0.1, 0.2, 0.5]);
    expect(logTicks(0.31, 0.68)).toEqual([0.4, 0.5, 0.6]);
  });
});
