//! `homeward-security`: runs this role for the members its settings name,
//! each with the civil registry extract its `[member.role]` names, if any.

use std::sync::Arc;

use homeward_security::{SecurityService, SecuritySettings};

fn main() -> anyhow::Result<()> {
    homeward_ministry::service::main_with(|member| {
        let settings = SecuritySettings::from_role_table(&member.role)?;
        let seed = homeward_core::SigningKey::from_file(&member.key_file)?.seed();
        let service = SecurityService::from_settings(&settings, &seed)?;
        Ok(Arc::new(service))
    })
}
