// Builds dist/ (committed): the bundle, its CSS, ELK's web worker and the licences of what is bundled.
// Run `npm ci && npm run build` here after changing src/; users and CI only read dist/.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: ["src/main.jsx"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  outfile: "dist/main.js",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  logLevel: "info",
});
copyFileSync("node_modules/elkjs/lib/elk-worker.min.js", "dist/elk-worker.min.js");
const packages = ["react", "react-dom", "scheduler", "@xyflow/react", "@xyflow/system", "zustand", "classcat",
  "use-sync-external-store", "d3-color", "d3-dispatch", "d3-drag", "d3-ease", "d3-interpolate", "d3-selection",
  "d3-timer", "d3-transition", "d3-zoom", "elkjs"];
const parts = ["Third-party code bundled in main.js and elk-worker.min.js, with its licence.\n"];
for (const name of packages) {
  const dir = `node_modules/${name}`;
  const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  let text = "";
  for (const file of ["LICENSE", "LICENSE.md", "license", "LICENSE.txt", "LICENSE.TXT"]) {
    try { text = readFileSync(`${dir}/${file}`, "utf8"); break; } catch { /* next */ }
  }
  parts.push(`\n==== ${name} ${pkg.version} (${pkg.license}) ====\n${text || "(see the package's licence: " + pkg.license + ")"}`);
}
writeFileSync("dist/THIRD_PARTY_LICENSES.txt", parts.join("\n"));
