/** @jsxImportSource hono/jsx */
// The page frame (jsxRenderer layout): head, navigation for signed-in admins, flash
// messages. Pure: everything comes in as props.
import type { Child } from "hono/jsx";

export interface LayoutProps {
  title: string;
  /** Navigation is shown only to signed-in admins. */
  nav?: { current: string; csrf: string; email: string };
  narrow?: boolean;
  children?: Child;
}

const NAV: [string, string][] = [
  ["/", "Overview"],
  ["/tunnels", "Tunnels"],
  ["/tokens", "Tokens"],
  ["/api-keys", "API keys"],
  ["/settings", "Settings"],
  ["/account", "Account"],
];

export function Layout(props: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{`${props.title} · Spokes`}</title>
        <link rel="stylesheet" href="/static/app.css" />
        <script src="/static/app.js" defer></script>
      </head>
      <body>
        <header class="top">
          <div class="bar">
            <a class="brand" href="/">Spokes</a>
            {props.nav && (
              <>
                <nav aria-label="Main">
                  {NAV.map(([href, label]) => (
                    <a href={href} aria-current={isCurrent(props.nav!.current, href) ? "page" : undefined}>
                      {label}
                    </a>
                  ))}
                </nav>
                <form method="post" action="/logout">
                  <input type="hidden" name="_csrf" value={props.nav.csrf} />
                  <button class="link" type="submit" title={`Signed in as ${props.nav.email}`}>
                    Log out
                  </button>
                </form>
              </>
            )}
          </div>
        </header>
        <main class={props.narrow ? "narrow" : undefined}>{props.children}</main>
      </body>
    </html>
  );
}

function isCurrent(path: string, href: string): boolean {
  return href === "/" ? path === "/" : path === href || path.startsWith(`${href}/`);
}
