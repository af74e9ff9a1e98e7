// mocha merges a config file's `spec` with the files named on the command line, so naming one test
// file would still run the whole suite: the default spec applies only when no test file is named.
const named = process.argv.slice(2).some((a) => /\.test\.js$/.test(a) || a.startsWith('dist/test/'));
module.exports = {
  spec: named ? [] : ['dist/test/**/*.test.js'],
  timeout: 20000,
  reporter: 'spec',
  exit: true,
};
