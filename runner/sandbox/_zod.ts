// Entry for the SDK bundle's copy of zod (see sdk.ts): every named export and the default.
export * from "npm:zod@^4.1.0";
export { default } from "npm:zod@^4.1.0";
