//! The email templates (`templates/email/`, embedded at build time) and their rendering with
//! minijinja: `{name}.txt` is the plain-text part, `{name}.html` the HTML part (autoescaped
//! by its extension, so a product or user name cannot inject markup); `_order.*` and
//! `layout.html` are shared pieces.

use crate::domain::notification::Template;
use minijinja::Environment;
use serde_json::Value;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/email/", $name)))),*]
    };
}

/// Every template file, by name.
const FILES: &[(&str, &str)] = embedded!(
    "layout.html",
    "_order.txt",
    "_order.html",
    "welcome.txt",
    "welcome.html",
    "password_reset.txt",
    "password_reset.html",
    "order_confirmation.txt",
    "order_confirmation.html",
    "payment_failed.txt",
    "payment_failed.html",
    "order_status.txt",
    "order_status.html",
    "order_cancelled.txt",
    "order_cancelled.html",
    "return_update.txt",
    "return_update.html",
    "review_request.txt",
    "review_request.html",
    "low_stock.txt",
    "low_stock.html",
    "webhook_disabled.txt",
    "webhook_disabled.html",
    "waitlist_served.txt",
    "waitlist_served.html",
);

/// The loaded templates.
pub struct Renderer {
    env: Environment<'static>,
}

/// A rendered email.
pub struct Rendered {
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

impl Renderer {
    /// Loads every template; a broken template is a build mistake, so this fails start-up.
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in FILES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Both parts of a `template` email with `context` (which also gets `subject`).
    pub fn render(
        &self,
        template: Template,
        subject: &str,
        mut context: Value,
    ) -> Result<Rendered, minijinja::Error> {
        if let Some(object) = context.as_object_mut() {
            object.insert("subject".into(), Value::String(subject.to_owned()));
        }
        let part = |ext: &str| {
            self.env
                .get_template(&format!("{}.{ext}", template.as_str()))?
                .render(&context)
        };
        Ok(Rendered {
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_renders_and_html_is_escaped() {
        let renderer = Renderer::new().expect("templates load");
        for template in Template::ALL {
            let rendered = renderer
                .render(
                    template,
                    "Subject",
                    json!({"name": "<b>Ada</b>", "store_name": "Shop", "link": "http://x/verify?token=a.b",
                        "order": {"number": "EM-000001", "lines": [], "total": "1.00 USD",
                            "payment": {"method": "card", "status": "captured"}},
                        "product": {"name": "Tea", "sku": "T-1"}}),
                )
                .expect("renders");
            assert!(rendered.text.contains("<b>Ada</b>"), "{template:?}");
            // (minijinja also escapes `/`, as `&#x2f;`.)
            assert!(
                rendered.html.contains("&lt;b&gt;Ada") && !rendered.html.contains("<b>Ada"),
                "{template:?}"
            );
        }
    }
}
