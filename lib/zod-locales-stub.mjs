// What the workflow bundle gets instead of zod's 64 locale modules (zod's `z.locales` namespace): the workflow never
// switches zod's locale, and zod loads its English messages from their own module. Each workflow evaluates every
// module of the bundle, so this is about 2 MiB less per cached migration (see lib/workflow-bundle.ts).
export {};
