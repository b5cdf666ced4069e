//! A dashboard client over plain HTTP (no browser): signs in with a token or a session
//! cookie, keeps the cookie, reads the CSRF value from pages and posts forms as a browser
//! on the dashboard's own origin would. The browser suite (`kit::browser`) drives a real
//! Chromium; this one is for the many checks that need no rendering.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};

pub struct UiClient {
    pub base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

/// One answer: status, where it redirects, the body.
#[derive(Debug)]
pub struct UiPage {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl UiPage {
    /// The first `name="csrf" value="…"` of the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in the page:\n{}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl UiClient {
    /// A signed-out client for the daemon's HTTP address.
    pub fn new(http_addr: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{http_addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Signed in with `token` (panics if refused).
    pub async fn signed_in(http_addr: std::net::SocketAddr, token: &str) -> Self {
        let mut c = Self::new(http_addr);
        let p = c.post_form("/ui/signin", &[("token", token)]).await;
        assert_eq!(
            p.status,
            StatusCode::SEE_OTHER,
            "sign-in refused: {}",
            p.body
        );
        assert!(c.cookie.is_some(), "no session cookie");
        c
    }

    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    fn keep_cookie(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("pagerd_session=") {
                let value = rest.split(';').next().unwrap_or_default();
                self.cookie = (!value.is_empty()).then(|| value.to_string());
            }
        }
    }

    async fn finish(&mut self, r: reqwest::Response) -> UiPage {
        self.keep_cookie(&r);
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        UiPage {
            status,
            location,
            body: r.text().await.unwrap(),
        }
    }

    fn with_cookie(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => b.header(COOKIE, format!("pagerd_session={c}")),
            None => b,
        }
    }

    pub async fn get(&mut self, path: &str) -> UiPage {
        let r = self
            .with_cookie(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// POSTs a form from the dashboard's own origin, as is (add `csrf` yourself).
    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> UiPage {
        let r = self
            .with_cookie(self.http.post(format!("{}{path}", self.base)))
            .header(ORIGIN, self.base.clone())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// POSTs a form with the CSRF value of the page at `page` (GET first).
    pub async fn act(&mut self, page: &str, path: &str, form: &[(&str, &str)]) -> UiPage {
        let csrf = self.get(page).await.csrf();
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &csrf));
        self.post_form(path, &fields).await
    }
}
