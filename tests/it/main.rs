//! One integration-test binary, a module per capability (links once on a 2-core machine).
mod auth;
mod config_cli;
mod conformance;
mod emulator;
mod rotation;
mod sdk;
mod support;
mod tui;
mod e2e_tmux;
