//! Owned retries: placeholder
