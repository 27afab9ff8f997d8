// Config schema of the `rbac` plugin.
import { Type, type Static } from '@sinclair/typebox'

const Names = (description: string) => Type.Array(Type.String({ minLength: 1 }), { default: [], uniqueItems: true, description })

export const RbacSchema = Type.Object(
  {
    any_of: Type.Optional(Names('The request is allowed if it holds at least one of these roles/scopes.')),
    all_of: Type.Optional(Names('The request is allowed only if it holds every one of these roles/scopes. With any_of too, both must hold.')),
    from: Type.Optional(
      Type.Union([Type.Literal('claims'), Type.Literal('consumer'), Type.Literal('both')], {
        default: 'claims',
        description:
          'Where the roles come from: "claims" (the verified JWT claim named by `claim`), "consumer" (the roles of the consumer an auth ' +
          'plugin identified), or "both" (the union).',
      }),
    ),
    claim: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'scope',
        description:
          'Claim holding the roles: a name or a dot path ("realm_access.roles"). A list of strings, or one string of space-separated values ' +
          '(the OAuth "scope" claim).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Requires roles or scopes (any-of / all-of); 403 otherwise.',
    // A rule that requires nothing would allow everyone: refuse it when the config is loaded.
    anyOf: [
      { type: 'object', required: ['any_of'], properties: { any_of: { type: 'array', minItems: 1 } } },
      { type: 'object', required: ['all_of'], properties: { all_of: { type: 'array', minItems: 1 } } },
    ],
  },
)

export type RbacConfig = Static<typeof RbacSchema>
