//! `homeward-foreign-affairs`: runs the foreign-affairs role for the members
//! its settings name (e.g. `kz.mfa`).

fn main() -> anyhow::Result<()> {
    homeward_ministry::service::main_with(|_| {
        Ok(std::sync::Arc::new(
            homeward_foreign_affairs::ForeignAffairs,
        ))
    })
}
