//! Configuration: profiles in TOML under the platform config dir.
