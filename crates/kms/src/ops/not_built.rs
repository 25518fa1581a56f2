//! The answer to an operation Strongroom does not serve yet. As AWS, the request is validated
//! and its key resolved and authorized first (an unknown key is NotFoundException), and a key the
//! operation cannot apply to gets AWS's own refusal; otherwise UnsupportedOperationException.

use kms_api::wire::Request;
use kms_api::{ErrorCode, KmsError, Operation};
use kms_model::Origin;

use crate::core::facts;
use crate::core::optable::Naming;
use crate::core::{Access, Core};

pub(crate) fn answer(core: &Core, request: &Request, access: &Access<'_>) -> KmsError {
    let op = request.operation();
    if let Some(key_ref) = facts::key_id(request) {
        let key = match core.resolve_as(key_ref, access, Naming::KeyOrAlias) {
            Ok(key) => key,
            Err(e) => return e,
        };
        let arn = core.key_arn(&key.key);
        use Operation::*;
        match op {
            GetParametersForImport | ImportKeyMaterial | DeleteImportedKeyMaterial
                if key.key.origin != Origin::External =>
            {
                return KmsError::new(
                    ErrorCode::UnsupportedOperationException,
                    format!(
                        "{arn} origin is {} which is not valid for this operation.",
                        key.key.origin
                    ),
                )
            }
            _ => {}
        }
    }
    KmsError::new(
        ErrorCode::UnsupportedOperationException,
        format!("{} is not supported by Strongroom yet.", op.name()),
    )
}
