//! `homeward-interior`: runs this role for the members its settings name.

fn main() -> anyhow::Result<()> {
    homeward_ministry::service::main_with(|_| Ok(std::sync::Arc::new(homeward_interior::Interior)))
}
