// Entry for the SDK bundle's copy of zod (see sdk.ts): every named export and the default.
export * from "zod";
export { default } from "zod";
