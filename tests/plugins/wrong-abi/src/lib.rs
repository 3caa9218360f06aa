//! A test-only library that claims ABI version 999, so the host must refuse it by name.

/// The ABI-version symbol with a version no host speaks.
#[no_mangle]
pub extern "C" fn agora_plugin_abi_version() -> u32 {
    999
}
