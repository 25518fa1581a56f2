//! AWS's key-state table: what an operation may do with a key in each state.
//!
//! Operations fall into a few rules ([`StateRule`], chosen per operation in the operation
//! table); [`check`] is the whole table as one function of (state, rule), tested pair by pair.

use kms_model::KeyState;

/// The states an operation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateRule {
    /// Any state (DescribeKey, the List and Get operations, RetireGrant, RevokeGrant).
    Any,
    /// Enabled, Disabled, Creating or PendingImport (management: tags, aliases, description,
    /// ScheduleKeyDeletion). A key whose external key store is disconnected may be managed too.
    Manageable,
    /// As `Manageable`, but not PendingImport (EnableKey, DisableKey: a key awaiting its
    /// imported material is neither).
    Toggle,
    /// Enabled only (cryptographic operations, CreateGrant).
    Enabled,
    /// PendingDeletion or PendingReplicaDeletion (CancelKeyDeletion).
    PendingDeletion,
    /// Enabled, Disabled or PendingImport (GetParametersForImport, ImportKeyMaterial).
    Import,
    /// As `Import`, and PendingDeletion too (DeleteImportedKeyMaterial).
    DeleteImport,
}

/// Why a key's state refuses an operation; the caller words it (it knows the key's ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `DisabledException`: "<arn> is disabled."
    Disabled,
    /// `KMSInvalidStateException`: "<arn> is pending deletion."
    PendingDeletion,
    /// `KMSInvalidStateException`: the key's external key store is not connected.
    StoreNotConnected,
    /// `KMSInvalidStateException`: "<arn> is not pending deletion."
    NotPendingDeletion,
    /// `KMSInvalidStateException`: "<arn> is <state in words>." for any other state
    /// ("pending import", "pending replica deletion", "creating", "updating").
    InvalidState(KeyState),
}

/// How AWS words a state in `"<arn> is <words>."`.
pub(crate) fn words(state: KeyState) -> &'static str {
    match state {
        KeyState::Enabled => "enabled",
        KeyState::Disabled => "disabled",
        KeyState::PendingDeletion => "pending deletion",
        KeyState::PendingImport => "pending import",
        KeyState::PendingReplicaDeletion => "pending replica deletion",
        KeyState::Unavailable => "unavailable",
        KeyState::Creating => "creating",
        KeyState::Updating => "updating",
    }
}

/// The table: `state` is the state callers see (a key in a disconnected external key store
/// shows `Unavailable`).
pub(crate) fn check(state: KeyState, rule: StateRule) -> Result<(), Refusal> {
    use KeyState::*;
    match (rule, state) {
        (StateRule::Any, _) => Ok(()),
        (StateRule::PendingDeletion, PendingDeletion | PendingReplicaDeletion) => Ok(()),
        (StateRule::PendingDeletion, _) => Err(Refusal::NotPendingDeletion),
        (_, Enabled) => Ok(()),
        (StateRule::Import | StateRule::DeleteImport, Disabled | PendingImport) => Ok(()),
        (StateRule::DeleteImport, PendingDeletion) => Ok(()),
        (StateRule::Manageable, Disabled | Unavailable | Creating | PendingImport) => Ok(()),
        (StateRule::Toggle, Disabled | Unavailable | Creating) => Ok(()),
        (StateRule::Enabled, Disabled) => Err(Refusal::Disabled),
        (StateRule::Enabled, Unavailable) => Err(Refusal::StoreNotConnected),
        (_, PendingDeletion) => Err(Refusal::PendingDeletion),
        (_, other) => Err(Refusal::InvalidState(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyState::*;

    #[test]
    fn every_state_and_rule() {
        use Refusal as R;
        use StateRule as S;
        let table = [
            (S::Any, Enabled, Ok(())),
            (S::Any, Disabled, Ok(())),
            (S::Any, PendingDeletion, Ok(())),
            (S::Any, PendingImport, Ok(())),
            (S::Any, Unavailable, Ok(())),
            (S::Any, Creating, Ok(())),
            (S::Any, Updating, Ok(())),
            (S::Any, PendingReplicaDeletion, Ok(())),
            (S::Manageable, Enabled, Ok(())),
            (S::Manageable, Disabled, Ok(())),
            (S::Manageable, Unavailable, Ok(())),
            (S::Manageable, PendingDeletion, Err(R::PendingDeletion)),
            (S::Manageable, PendingImport, Ok(())),
            (S::Manageable, Creating, Ok(())),
            (S::Manageable, Updating, Err(R::InvalidState(Updating))),
            (
                S::Manageable,
                PendingReplicaDeletion,
                Err(R::InvalidState(PendingReplicaDeletion)),
            ),
            (S::Toggle, Enabled, Ok(())),
            (S::Toggle, Disabled, Ok(())),
            (S::Toggle, Unavailable, Ok(())),
            (S::Toggle, PendingDeletion, Err(R::PendingDeletion)),
            (
                S::Toggle,
                PendingImport,
                Err(R::InvalidState(PendingImport)),
            ),
            (S::Toggle, Creating, Ok(())),
            (S::Toggle, Updating, Err(R::InvalidState(Updating))),
            (
                S::Toggle,
                PendingReplicaDeletion,
                Err(R::InvalidState(PendingReplicaDeletion)),
            ),
            (S::Enabled, Enabled, Ok(())),
            (S::Enabled, Disabled, Err(R::Disabled)),
            (S::Enabled, Unavailable, Err(R::StoreNotConnected)),
            (S::Enabled, PendingDeletion, Err(R::PendingDeletion)),
            (
                S::Enabled,
                PendingImport,
                Err(R::InvalidState(PendingImport)),
            ),
            (S::Enabled, Creating, Err(R::InvalidState(Creating))),
            (S::Enabled, Updating, Err(R::InvalidState(Updating))),
            (
                S::Enabled,
                PendingReplicaDeletion,
                Err(R::InvalidState(PendingReplicaDeletion)),
            ),
            (S::PendingDeletion, PendingDeletion, Ok(())),
            (S::PendingDeletion, Enabled, Err(R::NotPendingDeletion)),
            (S::PendingDeletion, Disabled, Err(R::NotPendingDeletion)),
            (S::PendingDeletion, Unavailable, Err(R::NotPendingDeletion)),
            (
                S::PendingDeletion,
                PendingImport,
                Err(R::NotPendingDeletion),
            ),
            (S::PendingDeletion, Creating, Err(R::NotPendingDeletion)),
            (S::PendingDeletion, Updating, Err(R::NotPendingDeletion)),
            (S::PendingDeletion, PendingReplicaDeletion, Ok(())),
            (S::Import, Enabled, Ok(())),
            (S::Import, Disabled, Ok(())),
            (S::Import, PendingImport, Ok(())),
            (S::Import, PendingDeletion, Err(R::PendingDeletion)),
            (S::Import, Unavailable, Err(R::InvalidState(Unavailable))),
            (S::Import, Creating, Err(R::InvalidState(Creating))),
            (S::Import, Updating, Err(R::InvalidState(Updating))),
            (
                S::Import,
                PendingReplicaDeletion,
                Err(R::InvalidState(PendingReplicaDeletion)),
            ),
            (S::DeleteImport, Enabled, Ok(())),
            (S::DeleteImport, Disabled, Ok(())),
            (S::DeleteImport, PendingImport, Ok(())),
            (S::DeleteImport, PendingDeletion, Ok(())),
            (
                S::DeleteImport,
                Unavailable,
                Err(R::InvalidState(Unavailable)),
            ),
            (S::DeleteImport, Creating, Err(R::InvalidState(Creating))),
            (S::DeleteImport, Updating, Err(R::InvalidState(Updating))),
            (
                S::DeleteImport,
                PendingReplicaDeletion,
                Err(R::InvalidState(PendingReplicaDeletion)),
            ),
        ];
        assert_eq!(table.len(), 7 * KeyState::ALL.len(), "every pair once");
        for (rule, state, want) in table {
            assert_eq!(check(state, rule), want, "{rule:?} {state:?}");
        }
    }
}
