//! The `agora` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    // Model plugins may run OpenMP (libtorch does). Its worker threads spin while they wait by
    // default, which on a machine with busy cores slows training many times over and steals CPU
    // from the API; waiting passively costs little. Set before any plugin is loaded or thread
    // started; an operator's own setting wins.
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        std::env::set_var("OMP_WAIT_POLICY", "PASSIVE");
    }
    agora::cli::main()
}
