// A RequestContext for unit tests of plugins, balancers and splits: the plugin test kit's, so the
// suite tests through what plugin authors use (src/testing).
export { fakeContext, type FakeContextOptions } from '../../src/testing/index.js'
