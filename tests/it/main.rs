//! One integration-test binary, a module per capability (links once on a 2-core machine).
mod auth;
mod check;
mod config_cli;
mod conformance;
mod continuity;
mod e2e_tmux;
mod emulator;
mod emulator_reports;
mod emulator_signin;
mod hardening;
mod rotation;
mod scale;
mod sdk;
mod show;
mod support;
mod tui;
mod tui_impact;
