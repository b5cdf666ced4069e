//! The dashboard's on-call page (`/ui/oncall`: `table#oncall`, a row `tr[data-schedule=NAME]`
//! per schedule) in a real browser at phone and desktop sizes, with screenshots.
//!
//! Written against the dashboard's contract before the page is here: the `ui` branch this was
//! merged from serves no `/ui/oncall` yet (404), so this module is not in `main.rs`'s list.
//! Add `mod ui_browser_oncall;` next to `mod ui_browser;` when the page lands (it passes with
//! the on-call page of branch `ui-oncall` merged in: checked, and docs/dashboard-phone.png is
//! its phone screenshot).

use crate::ui_browser::{SIZES, Ui, assert_fits, some_incidents};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_on_call_page_at_phone_and_desktop_sizes() {
    let mut ui = Ui::start().await;
    let alice = ui.token("alice-phone", "responder", "alice").await;
    some_incidents(&mut ui).await;
    ui.sign_in(&alice).await;
    for (w, h, size) in SIZES {
        ui.browser.set_size(w, h).await;
        ui.browser.goto(&ui.url("/ui/oncall")).await;
        ui.browser.wait_for("table#oncall", BROWSER_WAIT).await;
        // Every schedule of the example policy files.
        for schedule in [
            "support-evenings",
            "engineering",
            "vp",
            "sre-follow-the-sun",
            "platform",
        ] {
            let row = format!("tr[data-schedule='{schedule}']");
            assert!(ui.browser.find(&row).await.is_some(), "no {row} ({size})");
        }
        assert_fits(&ui, "/ui/oncall").await;
        let png = std::fs::read(ui.browser.screenshot(&format!("oncall-{size}")).await).unwrap();
        assert_eq!(png_size(&png), (w, h));
    }
    ui.stop().await;
}
