// Built by ui/vite.config.ts from schema/portico.config.json (Ajv standalone validators).
declare module 'virtual:validators' {
  interface AjvError {
    keyword: string
    instancePath: string
    schemaPath: string
    params: Record<string, unknown>
    message?: string
  }
  type Validate = ((data: unknown) => boolean) & { errors?: AjvError[] | null }
  export const routes: Validate
  export const upstreams: Validate
  export const consumers: Validate
  export const plugins: Validate
  /** The built-in plugins' names (src/plugins/builtin.ts). */
  export const pluginNames: string[]
  export const schemas: Record<'routes' | 'upstreams' | 'consumers' | 'plugins', Record<string, unknown>>
}
