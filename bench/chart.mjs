// The benchmark chart `make bench` writes (bench/results/latest.svg): for every variant, a bar of
// median requests/s and a bar of workerd CPU µs per request, with the pass-through worker's and the
// `jose` worker's values drawn across each panel as reference lines. Plain SVG, no dependency.

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (x) => (x == null ? "—" : Math.round(x).toLocaleString("en-US"));

/** Colour by kind: the JS references grey, Portcullis blue, a baseline build's Portcullis pale. */
function colour(name) {
  if (name === "passthrough" || name.startsWith("jose-js")) return "#8c8c8c";
  if (name.endsWith("@before")) return "#a9c4e8";
  return "#2f6fbf";
}

export function chartSvg(results) {
  const rows = results.variants.map((v) => ({
    name: v.name,
    rps: v.load?.rps?.median ?? null,
    cpu: v.load?.workerd_cpu_us_per_request ?? null,
  }));
  const ref = (name) => rows.find((r) => r.name === name);
  const labelW = 210;
  const panelW = 330;
  const gap = 40;
  const rowH = 20;
  const top = 56;
  const height = top + rows.length * rowH + 52;
  const width = labelW + 2 * panelW + gap + 20;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(`Portcullis benchmark ${results.date.slice(0, 10)} (commit ${results.git?.commit?.slice(0, 10) ?? "?"})`)}</text>`);
  const panels = [
    { key: "rps", title: "requests/s (median) — longer is better", x0: labelW },
    { key: "cpu", title: "workerd CPU µs per request — shorter is better", x0: labelW + panelW + gap },
  ];
  for (const p of panels) {
    const max = Math.max(1, ...rows.map((r) => r[p.key] ?? 0)) * 1.08;
    const scale = (v) => (v / max) * (panelW - 50);
    out.push(`<text x="${p.x0}" y="${top - 16}" font-weight="bold">${esc(p.title)}</text>`);
    rows.forEach((r, i) => {
      const y = top + i * rowH;
      if (p.key === "rps") out.push(`<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(r.name)}</text>`);
      if (r[p.key] == null) return;
      const w = scale(r[p.key]);
      out.push(`<rect x="${p.x0}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colour(r.name)}"/>`);
      out.push(`<text x="${(p.x0 + w + 4).toFixed(1)}" y="${y + 14}" fill="#333">${num(r[p.key])}</text>`);
    });
    // The two labels on separate lines: the reference values are often close.
    for (const [name, label, dash, dy] of [["passthrough", "pass-through", "6,3", 18], ["jose-js", "jose", "2,3", 32]]) {
      const v = ref(name)?.[p.key];
      if (v == null) continue;
      const x = (p.x0 + scale(v)).toFixed(1);
      out.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${top + rows.length * rowH + 4}" stroke="#c0392b" stroke-width="1.2" stroke-dasharray="${dash}"/>`);
      out.push(`<text x="${x}" y="${top + rows.length * rowH + dy}" text-anchor="middle" fill="#c0392b">${esc(label)}</text>`);
    }
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
