// A PluginEnv for unit tests of plugins (silent logger, memory stores): the plugin test kit's.
export { testPluginEnv } from '../../src/testing/index.js'
