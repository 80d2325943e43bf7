/**
 * Renders load and chaos results as one self-contained HTML page: a table of the
 * summary figures and inline SVG line charts (throughput, p99 latency, hit rate,
 * invalidation lag) per second, one line per run. No scripts, no external assets.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What a chart needs from a run. */
export interface ReportRun {
  label: string;
  series: Array<{ second: number; rps: number; p99: number; hitRate: number; lagP99: number }>;
}

const COLOURS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df'];
const WIDTH = 640;
const HEIGHT = 200;
const PAD = 40;

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function chart(
  title: string,
  unit: string,
  runs: ReportRun[],
  pick: (p: ReportRun['series'][number]) => number,
): string {
  const points = runs.flatMap((r) => r.series.map(pick)).filter(Number.isFinite);
  const maxY = Math.max(1e-9, ...points);
  const maxX = Math.max(1, ...runs.flatMap((r) => r.series.map((p) => p.second)));
  const x = (s: number) => PAD + ((WIDTH - 2 * PAD) * s) / maxX;
  const y = (v: number) => HEIGHT - PAD + 10 - ((HEIGHT - 2 * PAD) * v) / maxY;
  const lines = runs.map((run, i) => {
    const d = run.series
      .filter((p) => Number.isFinite(pick(p)))
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.second).toFixed(1)},${y(pick(p)).toFixed(1)}`)
      .join(' ');
    return `<path d="${d}" fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="2"/>`;
  });
  const legend = runs.map(
    (run, i) =>
      `<text x="${PAD + i * 150}" y="14" fill="${COLOURS[i % COLOURS.length]}">${escape(run.label)}</text>`,
  );
  return `<figure><figcaption>${escape(title)} (${escape(unit)})</figcaption>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" font-size="11">
<line x1="${PAD}" y1="${HEIGHT - PAD + 10}" x2="${WIDTH - PAD}" y2="${HEIGHT - PAD + 10}" stroke="#999"/>
<line x1="${PAD}" y1="${PAD - 10}" x2="${PAD}" y2="${HEIGHT - PAD + 10}" stroke="#999"/>
<text x="2" y="${PAD - 6}">${maxY.toPrecision(3)}</text><text x="2" y="${HEIGHT - PAD + 10}">0</text>
<text x="${WIDTH - PAD}" y="${HEIGHT - 8}" text-anchor="end">${maxX} s</text>
${legend.join('\n')}
${lines.join('\n')}
</svg></figure>`;
}

// Every scalar figure of the runs becomes a row, in the order the first run has them.
function table(runs: ReportRun[]): string {
  const records = runs as unknown as Array<Record<string, unknown>>;
  const keys = Object.keys(records[0] ?? {}).filter(
    (k) => k !== 'series' && k !== 'label' && typeof records[0][k] !== 'object',
  );
  const cell = (v: unknown) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : escape(String(v));
  const head = `<tr><th></th>${runs.map((r) => `<th>${escape(r.label)}</th>`).join('')}</tr>`;
  const rows = keys.map(
    (k) => `<tr><th>${escape(k)}</th>${records.map((r) => `<td>${cell(r[k])}</td>`).join('')}</tr>`,
  );
  return `<table>${head}${rows.join('')}</table>`;
}

/** Writes the page to `file`. */
export function renderReport(file: string, title: string, runs: ReportRun[]): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}figure{margin:1em 0}</style>
</head><body><h1>${escape(title)}</h1><p>${escape(new Date().toISOString())}</p>
${table(runs)}
${chart('Throughput', 'responses/s', runs, (p) => p.rps)}
${chart('Latency p99', 'ms, from the scheduled send time', runs, (p) => p.p99)}
${chart('Hit rate', 'fraction of reads', runs, (p) => p.hitRate)}
${chart('Invalidation lag p99', 'ms, audit entry written → applied', runs, (p) => p.lagP99)}
</body></html>
`;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, html);
}
