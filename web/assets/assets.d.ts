// Text imports of embedded assets (`import css from "./app.css" with { type: "text" }`).
declare module "*.css" {
  const text: string;
  export default text;
}
