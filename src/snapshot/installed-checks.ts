// The document checks of this process: every installed plugin (built-ins and PORTICO_PLUGINS's).
import type { DocumentChecks } from '../config/validate.js'
import { INSTALLED_PLUGINS } from '../plugins/installed.js'
import { documentChecks } from './document-checks.js'

export const INSTALLED_CHECKS: DocumentChecks = documentChecks(INSTALLED_PLUGINS)
