// Typesets TeX formulas with MathJax 3 (mathjax-full, TeX input with every
// package but those that hide errors, SVG output) and prints the errors as
// JSON. Input on stdin: a JSON list of {"tex": ..., "display": true|false}.
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');

RegisterHTMLHandler(liteAdaptor());
const tex = new TeX({packages: AllPackages.filter((name) => !['noundefined', 'noerrors', 'autoload', 'require'].includes(name)), formatError: (jax, error) => { throw error; }});
const document = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});
const formulas = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const errors = [];
for (const formula of formulas) {
  try {
    document.convert(formula.tex, {display: formula.display});
  } catch (error) {
    errors.push({tex: formula.tex, error: String(error.message || error)});
  }
}
process.stdout.write(JSON.stringify({typeset: formulas.length, errors: errors}));
