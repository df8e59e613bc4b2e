// Reads `npm pack --dry-run --json` (run in client/) on stdin and fails
// unless the tarball holds exactly the package's own files: its code, its
// declarations, its examples, its README and package.json. Run by
// scripts/test.sh, so a test file or a stray build never ships.

const [pack] = JSON.parse(await new Response(process.stdin).text());
const files = pack.files.map((f) => f.path).sort();
const shipped = (path) =>
  /^src\/[a-z]+\.js$/.test(path) ||
  /^examples\/[a-z]+\.m?js$/.test(path) ||
  ["index.d.ts", "README.md", "package.json"].includes(path);
const stray = files.filter((path) => !shipped(path));
for (const needed of ["package.json", "index.d.ts", "README.md", "src/index.js"]) {
  if (!files.includes(needed)) stray.push(`(missing) ${needed}`);
}
if (stray.length) {
  console.error(`npm pack: not the package's files: ${stray.join(", ")}`);
  process.exit(1);
}
console.log(`npm pack: ${pack.name}@${pack.version}, ${files.length} files, ${pack.size} bytes packed`);
