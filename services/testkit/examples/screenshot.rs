//! The README's picture of the operator console, taken in headless
//! Chromium by the same harness the console's browser test uses, so the
//! picture shows the console as it runs and not a mock-up.
//!
//! ```text
//! cargo run -p homeward-testkit --example screenshot -- <url> <token> <out.png>
//! ```
//!
//! Opens `<url>`, signs in with `<token>` (the field `#token`, the button
//! `#login`), waits until the live feed is connected (`body` has
//! `data-live="1"`) and a table shows at least one row, and writes a PNG
//! of the window to `<out.png>`. `scripts/screenshot` runs it against
//! `homeward demo`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use homeward_testkit::webdriver::Browser;

/// How long the console may take to show the sign-in, and then its content.
const WITHIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(token), Some(out), None) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: screenshot <url> <token> <out.png>");
    };
    let out = PathBuf::from(out);

    let browser = Browser::start()
        .await
        .context("starting headless chromium (scripts/install-chromium installs it)")?;
    browser
        .goto(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    browser
        .wait_until(
            "the sign-in field #token",
            WITHIN,
            "return !!document.querySelector('#token');",
        )
        .await?;
    let field = browser.find("#token").await?;
    browser.type_into(&field, &token).await?;
    browser.click(&browser.find("#login").await?).await?;
    browser
        .wait_until(
            "the live feed (body data-live=\"1\") and a table with a row",
            WITHIN,
            "return document.body.dataset.live === '1' && !!document.querySelector('#app tbody tr');",
        )
        .await?;
    browser.screenshot(&out).await?;
    browser.close().await?;
    println!("wrote {}", out.display());
    Ok(())
}
