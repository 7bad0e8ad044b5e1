export { default } from "../www/demo/dev.mjs";
