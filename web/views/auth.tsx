/** @jsxImportSource hono/jsx */
// Views of the pages shown before a full login: login, first-run setup, 2FA.
import { raw } from "hono/html";
import { Csrf, Field, Check, Flash, type FieldErrors } from "./components.tsx";

export function LoginView(props: { csrf: string; email?: string; error?: string; notice?: string; offerSetup: boolean }) {
  return (
    <>
      <h1>Sign in</h1>
      <Flash ok={props.notice} error={props.error} />
      <div class="panel">
        <form class="stack" method="post" action="/login">
          <Csrf token={props.csrf} />
          <Field label="Email" name="email" type="email" value={props.email} autocomplete="username" required autofocus />
          <Field label="Password" name="password" type="password" autocomplete="current-password" required />
          <button type="submit">Sign in</button>
        </form>
      </div>
      {props.offerSetup && (
        <p>
          No administrator exists yet. <a href="/setup">Configure</a> this server with the <code>ADMIN_SECRET</code> it was started with.
        </p>
      )}
    </>
  );
}

export function SetupSecretView(props: { csrf: string; error?: string }) {
  return (
    <>
      <h1>Configure Spokes</h1>
      <p class="muted">Enter the <code>ADMIN_SECRET</code> this server was started with to create the first administrator.</p>
      <div class="panel">
        <form class="stack" method="post" action="/setup">
          <Csrf token={props.csrf} />
          <Field label="Admin secret" name="secret" type="password" autocomplete="off" required autofocus errors={{ secret: props.error }} />
          <button type="submit">Continue</button>
        </form>
      </div>
    </>
  );
}

export interface SetupAdminValues {
  email?: string;
  fullName?: string;
  enable2fa?: boolean;
}

export function SetupAdminView(props: { csrf: string; secret: string; values: SetupAdminValues; errors: FieldErrors; error?: string }) {
  return (
    <>
      <h1>Create the first administrator</h1>
      <Flash error={props.error} />
      <div class="panel">
        <form class="stack" method="post" action="/setup/admin">
          <Csrf token={props.csrf} />
          <input type="hidden" name="secret" value={props.secret} />
          <Field label="Email" name="email" type="email" value={props.values.email} errors={props.errors} autocomplete="username" required autofocus />
          <Field label="Full name" name="fullName" value={props.values.fullName} errors={props.errors} autocomplete="name" />
          <Field label="Password" name="password" type="password" errors={props.errors} autocomplete="new-password" required hint="At least 8 characters." />
          <Field label="Confirm password" name="confirm" type="password" errors={props.errors} autocomplete="new-password" required />
          <Check label="Protect this account with two-factor authentication (TOTP)" name="enable2fa" checked={props.values.enable2fa} />
          <button type="submit">Create administrator</button>
        </form>
      </div>
    </>
  );
}

export function TwoFactorView(props: { csrf: string; error?: string }) {
  return (
    <>
      <h1>Two-factor authentication</h1>
      <p class="muted">Enter the 6-digit passcode from your authenticator app.</p>
      <div class="panel">
        <form class="stack" method="post" action="/login/2fa">
          <Csrf token={props.csrf} />
          <Field label="Passcode" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus errors={{ code: props.error }} />
          <button type="submit">Verify</button>
        </form>
      </div>
      <p>
        <a href="/login">Use another account</a>
      </p>
    </>
  );
}

export function TwoFactorSetupView(props: { csrf: string; secret: string; qrSvg: string; uri: string; error?: string }) {
  return (
    <>
      <h1>Set up two-factor authentication</h1>
      <p class="muted">
        Scan the code with Google Authenticator, Microsoft Authenticator, Authy or any TOTP app (SHA1, 6 digits, 30 s), or type the secret in by
        hand. Then enter the passcode it shows.
      </p>
      <div class="panel">
        <div class="actions">
          <div class="qr-box" aria-label="QR code of the TOTP secret">
            {raw(props.qrSvg)}
          </div>
          <div>
            <p>Secret:</p>
            <p class="secret" id="totp-secret" data-uri={props.uri}>
              {props.secret}
            </p>
          </div>
        </div>
        <form class="stack" method="post" action="/login/2fa/setup">
          <Csrf token={props.csrf} />
          <Field label="Passcode" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus errors={{ code: props.error }} />
          <button type="submit">Verify and enable</button>
        </form>
        <form method="post" action="/login/2fa/setup/refresh">
          <Csrf token={props.csrf} />
          <p>
            <button class="secondary" type="submit">
              Make a new secret
            </button>
          </p>
        </form>
      </div>
    </>
  );
}

export function MessageView(props: { title: string; message: string; link?: [string, string] }) {
  return (
    <>
      <h1>{props.title}</h1>
      <div class="panel">
        <p>{props.message}</p>
        {props.link && <a href={props.link[0]}>{props.link[1]}</a>}
      </div>
    </>
  );
}
