/**
 * Fastify's own JSON Schema compilers (Ajv for validation, fast-json-stringify for responses), loaded
 * when a route first needs one instead of when the server is made. PGB binds every input with Zod in
 * its handlers and documents its routes with pass-through compilers (api/openapi/api-docs.ts), so a
 * start usually needs neither; Fastify would otherwise load Ajv in its constructor (a tenth of a
 * second of a start). A route that does need them gets the same compilers Fastify would have used.
 */
import { createRequire } from "node:module";
import type { FastifyServerOptions } from "fastify";

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions["schemaController"]>["compilersFactory"]>;
type ValidatorFactory = NonNullable<CompilersFactory["buildValidator"]>;
type SerializerFactory = NonNullable<CompilersFactory["buildSerializer"]>;

/** Resolved from Fastify's own folder: the versions Fastify itself depends on. */
const requireBesideFastify = createRequire(createRequire(import.meta.url).resolve("fastify"));

let validatorFactory: ValidatorFactory | undefined;
let serializerFactory: SerializerFactory | undefined;

export const lazySchemaCompilers: CompilersFactory = {
  buildValidator: (externalSchemas, options) => {
    validatorFactory ??= (requireBesideFastify("@fastify/ajv-compiler") as () => ValidatorFactory)();
    return validatorFactory(externalSchemas, options);
  },
  buildSerializer: (externalSchemas, options) => {
    serializerFactory ??= (requireBesideFastify("@fastify/fast-json-stringify-compiler") as () => SerializerFactory)();
    return serializerFactory(externalSchemas, options);
  },
};
