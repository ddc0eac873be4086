//! CAPIF-1e: placeholder, being written.
