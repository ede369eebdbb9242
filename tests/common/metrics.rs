//! Reading a server's `/metrics` (Prometheus text).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The Prometheus text a server answers at `url` (its `/metrics`).
pub async fn metrics_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of the sample `name` (with its labels, if it has any) in a `/metrics` text.
pub fn metric_in(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// The value of the sample `name` at `url`.
pub async fn metric(client: &reqwest::Client, url: &str, name: &str) -> u64 {
    metric_in(&metrics_text(client, url).await, name)
}
