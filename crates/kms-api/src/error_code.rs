//! Error codes: every exception of the KMS API model plus AWS's protocol-level errors.

/// The `__type` of an error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `AccessDeniedException`
    AccessDeniedException,
    /// `AlreadyExistsException`
    AlreadyExistsException,
    /// `CloudHsmClusterInUseException`
    CloudHsmClusterInUseException,
    /// `CloudHsmClusterInvalidConfigurationException`
    CloudHsmClusterInvalidConfigurationException,
    /// `CloudHsmClusterNotActiveException`
    CloudHsmClusterNotActiveException,
    /// `CloudHsmClusterNotFoundException`
    CloudHsmClusterNotFoundException,
    /// `CloudHsmClusterNotRelatedException`
    CloudHsmClusterNotRelatedException,
    /// `ConflictException`
    ConflictException,
    /// `CustomKeyStoreHasCMKsException`
    CustomKeyStoreHasCMKsException,
    /// `CustomKeyStoreInvalidStateException`
    CustomKeyStoreInvalidStateException,
    /// `CustomKeyStoreNameInUseException`
    CustomKeyStoreNameInUseException,
    /// `CustomKeyStoreNotFoundException`
    CustomKeyStoreNotFoundException,
    /// `DependencyTimeoutException`
    DependencyTimeoutException,
    /// `DisabledException`
    DisabledException,
    /// `DryRunOperationException`
    DryRunOperationException,
    /// `ExpiredImportTokenException`
    ExpiredImportTokenException,
    /// `IncompleteSignatureException`
    IncompleteSignatureException,
    /// `IncorrectKeyException`
    IncorrectKeyException,
    /// `IncorrectKeyMaterialException`
    IncorrectKeyMaterialException,
    /// `IncorrectTrustAnchorException`
    IncorrectTrustAnchorException,
    /// `InvalidAliasNameException`
    InvalidAliasNameException,
    /// `InvalidArnException`
    InvalidArnException,
    /// `InvalidCiphertextException`
    InvalidCiphertextException,
    /// `InvalidGrantIdException`
    InvalidGrantIdException,
    /// `InvalidGrantTokenException`
    InvalidGrantTokenException,
    /// `InvalidImportTokenException`
    InvalidImportTokenException,
    /// `InvalidKeyUsageException`
    InvalidKeyUsageException,
    /// `InvalidMarkerException`
    InvalidMarkerException,
    /// `InvalidSignatureException`
    InvalidSignatureException,
    /// `KMSInternalException`
    KmsInternalException,
    /// `KMSInvalidMacException`
    KmsInvalidMacException,
    /// `KMSInvalidSignatureException`
    KmsInvalidSignatureException,
    /// `KMSInvalidStateException`
    KmsInvalidStateException,
    /// `KeyUnavailableException`
    KeyUnavailableException,
    /// `LimitExceededException`
    LimitExceededException,
    /// `MalformedPolicyDocumentException`
    MalformedPolicyDocumentException,
    /// `MissingAuthenticationTokenException`
    MissingAuthenticationTokenException,
    /// `NotFoundException`
    NotFoundException,
    /// `RequestEntityTooLargeException`: a request body above the size limit (HTTP 413).
    RequestEntityTooLargeException,
    /// `SerializationException`
    SerializationException,
    /// `TagException`
    TagException,
    /// `ThrottlingException`
    ThrottlingException,
    /// `UnknownOperationException`
    UnknownOperationException,
    /// `UnrecognizedClientException`
    UnrecognizedClientException,
    /// `UnsupportedOperationException`
    UnsupportedOperationException,
    /// `ValidationException`
    ValidationException,
    /// `XksKeyAlreadyInUseException`
    XksKeyAlreadyInUseException,
    /// `XksKeyInvalidConfigurationException`
    XksKeyInvalidConfigurationException,
    /// `XksKeyNotFoundException`
    XksKeyNotFoundException,
    /// `XksProxyIncorrectAuthenticationCredentialException`
    XksProxyIncorrectAuthenticationCredentialException,
    /// `XksProxyInvalidConfigurationException`
    XksProxyInvalidConfigurationException,
    /// `XksProxyInvalidResponseException`
    XksProxyInvalidResponseException,
    /// `XksProxyUriEndpointInUseException`
    XksProxyUriEndpointInUseException,
    /// `XksProxyUriInUseException`
    XksProxyUriInUseException,
    /// `XksProxyUriUnreachableException`
    XksProxyUriUnreachableException,
    /// `XksProxyVpcEndpointServiceInUseException`
    XksProxyVpcEndpointServiceInUseException,
    /// `XksProxyVpcEndpointServiceInvalidConfigurationException`
    XksProxyVpcEndpointServiceInvalidConfigurationException,
    /// `XksProxyVpcEndpointServiceNotFoundException`
    XksProxyVpcEndpointServiceNotFoundException,
}

impl ErrorCode {
    /// The exception name AWS sends as `__type`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::AccessDeniedException => "AccessDeniedException",
            ErrorCode::AlreadyExistsException => "AlreadyExistsException",
            ErrorCode::CloudHsmClusterInUseException => "CloudHsmClusterInUseException",
            ErrorCode::CloudHsmClusterInvalidConfigurationException => {
                "CloudHsmClusterInvalidConfigurationException"
            }
            ErrorCode::CloudHsmClusterNotActiveException => "CloudHsmClusterNotActiveException",
            ErrorCode::CloudHsmClusterNotFoundException => "CloudHsmClusterNotFoundException",
            ErrorCode::CloudHsmClusterNotRelatedException => "CloudHsmClusterNotRelatedException",
            ErrorCode::ConflictException => "ConflictException",
            ErrorCode::CustomKeyStoreHasCMKsException => "CustomKeyStoreHasCMKsException",
            ErrorCode::CustomKeyStoreInvalidStateException => "CustomKeyStoreInvalidStateException",
            ErrorCode::CustomKeyStoreNameInUseException => "CustomKeyStoreNameInUseException",
            ErrorCode::CustomKeyStoreNotFoundException => "CustomKeyStoreNotFoundException",
            ErrorCode::DependencyTimeoutException => "DependencyTimeoutException",
            ErrorCode::DisabledException => "DisabledException",
            ErrorCode::DryRunOperationException => "DryRunOperationException",
            ErrorCode::ExpiredImportTokenException => "ExpiredImportTokenException",
            ErrorCode::IncompleteSignatureException => "IncompleteSignatureException",
            ErrorCode::IncorrectKeyException => "IncorrectKeyException",
            ErrorCode::IncorrectKeyMaterialException => "IncorrectKeyMaterialException",
            ErrorCode::IncorrectTrustAnchorException => "IncorrectTrustAnchorException",
            ErrorCode::InvalidAliasNameException => "InvalidAliasNameException",
            ErrorCode::InvalidArnException => "InvalidArnException",
            ErrorCode::InvalidCiphertextException => "InvalidCiphertextException",
            ErrorCode::InvalidGrantIdException => "InvalidGrantIdException",
            ErrorCode::InvalidGrantTokenException => "InvalidGrantTokenException",
            ErrorCode::InvalidImportTokenException => "InvalidImportTokenException",
            ErrorCode::InvalidKeyUsageException => "InvalidKeyUsageException",
            ErrorCode::InvalidMarkerException => "InvalidMarkerException",
            ErrorCode::InvalidSignatureException => "InvalidSignatureException",
            ErrorCode::KmsInternalException => "KMSInternalException",
            ErrorCode::KmsInvalidMacException => "KMSInvalidMacException",
            ErrorCode::KmsInvalidSignatureException => "KMSInvalidSignatureException",
            ErrorCode::KmsInvalidStateException => "KMSInvalidStateException",
            ErrorCode::KeyUnavailableException => "KeyUnavailableException",
            ErrorCode::LimitExceededException => "LimitExceededException",
            ErrorCode::MalformedPolicyDocumentException => "MalformedPolicyDocumentException",
            ErrorCode::MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            ErrorCode::NotFoundException => "NotFoundException",
            ErrorCode::RequestEntityTooLargeException => "RequestEntityTooLargeException",
            ErrorCode::SerializationException => "SerializationException",
            ErrorCode::TagException => "TagException",
            ErrorCode::ThrottlingException => "ThrottlingException",
            ErrorCode::UnknownOperationException => "UnknownOperationException",
            ErrorCode::UnrecognizedClientException => "UnrecognizedClientException",
            ErrorCode::UnsupportedOperationException => "UnsupportedOperationException",
            ErrorCode::ValidationException => "ValidationException",
            ErrorCode::XksKeyAlreadyInUseException => "XksKeyAlreadyInUseException",
            ErrorCode::XksKeyInvalidConfigurationException => "XksKeyInvalidConfigurationException",
            ErrorCode::XksKeyNotFoundException => "XksKeyNotFoundException",
            ErrorCode::XksProxyIncorrectAuthenticationCredentialException => {
                "XksProxyIncorrectAuthenticationCredentialException"
            }
            ErrorCode::XksProxyInvalidConfigurationException => {
                "XksProxyInvalidConfigurationException"
            }
            ErrorCode::XksProxyInvalidResponseException => "XksProxyInvalidResponseException",
            ErrorCode::XksProxyUriEndpointInUseException => "XksProxyUriEndpointInUseException",
            ErrorCode::XksProxyUriInUseException => "XksProxyUriInUseException",
            ErrorCode::XksProxyUriUnreachableException => "XksProxyUriUnreachableException",
            ErrorCode::XksProxyVpcEndpointServiceInUseException => {
                "XksProxyVpcEndpointServiceInUseException"
            }
            ErrorCode::XksProxyVpcEndpointServiceInvalidConfigurationException => {
                "XksProxyVpcEndpointServiceInvalidConfigurationException"
            }
            ErrorCode::XksProxyVpcEndpointServiceNotFoundException => {
                "XksProxyVpcEndpointServiceNotFoundException"
            }
        }
    }

    /// The HTTP status AWS answers with: 500 for the model's faults, 413 for an oversized
    /// request (AWS's front end refuses it so), 400 otherwise.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::RequestEntityTooLargeException => 413,
            ErrorCode::DependencyTimeoutException
            | ErrorCode::KmsInternalException
            | ErrorCode::KeyUnavailableException => 500,
            _ => 400,
        }
    }
}

/// Every error code, for tests.
pub const ALL_ERROR_CODES: &[ErrorCode] = &[
    ErrorCode::AccessDeniedException,
    ErrorCode::AlreadyExistsException,
    ErrorCode::CloudHsmClusterInUseException,
    ErrorCode::CloudHsmClusterInvalidConfigurationException,
    ErrorCode::CloudHsmClusterNotActiveException,
    ErrorCode::CloudHsmClusterNotFoundException,
    ErrorCode::CloudHsmClusterNotRelatedException,
    ErrorCode::ConflictException,
    ErrorCode::CustomKeyStoreHasCMKsException,
    ErrorCode::CustomKeyStoreInvalidStateException,
    ErrorCode::CustomKeyStoreNameInUseException,
    ErrorCode::CustomKeyStoreNotFoundException,
    ErrorCode::DependencyTimeoutException,
    ErrorCode::DisabledException,
    ErrorCode::DryRunOperationException,
    ErrorCode::ExpiredImportTokenException,
    ErrorCode::IncompleteSignatureException,
    ErrorCode::IncorrectKeyException,
    ErrorCode::IncorrectKeyMaterialException,
    ErrorCode::IncorrectTrustAnchorException,
    ErrorCode::InvalidAliasNameException,
    ErrorCode::InvalidArnException,
    ErrorCode::InvalidCiphertextException,
    ErrorCode::InvalidGrantIdException,
    ErrorCode::InvalidGrantTokenException,
    ErrorCode::InvalidImportTokenException,
    ErrorCode::InvalidKeyUsageException,
    ErrorCode::InvalidMarkerException,
    ErrorCode::InvalidSignatureException,
    ErrorCode::KmsInternalException,
    ErrorCode::KmsInvalidMacException,
    ErrorCode::KmsInvalidSignatureException,
    ErrorCode::KmsInvalidStateException,
    ErrorCode::KeyUnavailableException,
    ErrorCode::LimitExceededException,
    ErrorCode::MalformedPolicyDocumentException,
    ErrorCode::MissingAuthenticationTokenException,
    ErrorCode::NotFoundException,
    ErrorCode::RequestEntityTooLargeException,
    ErrorCode::SerializationException,
    ErrorCode::TagException,
    ErrorCode::ThrottlingException,
    ErrorCode::UnknownOperationException,
    ErrorCode::UnrecognizedClientException,
    ErrorCode::UnsupportedOperationException,
    ErrorCode::ValidationException,
    ErrorCode::XksKeyAlreadyInUseException,
    ErrorCode::XksKeyInvalidConfigurationException,
    ErrorCode::XksKeyNotFoundException,
    ErrorCode::XksProxyIncorrectAuthenticationCredentialException,
    ErrorCode::XksProxyInvalidConfigurationException,
    ErrorCode::XksProxyInvalidResponseException,
    ErrorCode::XksProxyUriEndpointInUseException,
    ErrorCode::XksProxyUriInUseException,
    ErrorCode::XksProxyUriUnreachableException,
    ErrorCode::XksProxyVpcEndpointServiceInUseException,
    ErrorCode::XksProxyVpcEndpointServiceInvalidConfigurationException,
    ErrorCode::XksProxyVpcEndpointServiceNotFoundException,
];
