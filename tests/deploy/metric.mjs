// Prints the value of one sample scraped from a Prometheus text endpoint, or nothing.
//   node metric.mjs URL NAME [label=value ...]
// The sample must have the name and every given label (others may be there too); more
// than one match is an error.
const [url, name, ...want] = process.argv.slice(2);
const labels = Object.fromEntries(want.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
let text;
try {
	const res = await fetch(url);
	if (!res.ok) throw new Error(`HTTP ${res.status}`);
	text = await res.text();
} catch (e) {
	console.error(`metric: ${url}: ${e.message}`);
	process.exit(1);
}
const hits = [];
for (const line of text.split("\n")) {
	const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/);
	if (!m || m[1] !== name) continue;
	const got = {};
	for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[l[1]] = l[2];
	if (Object.entries(labels).every(([k, v]) => got[k] === v)) hits.push(m[3]);
}
if (hits.length > 1) { console.error(`metric: ${hits.length} samples match`); process.exit(1); }
if (hits.length) console.log(hits[0]);
