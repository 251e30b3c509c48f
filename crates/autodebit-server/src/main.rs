//! The `autodebit` command. All logic lives in the library; this only hands over the arguments.

fn main() -> std::process::ExitCode {
    autodebit_server::cli::main()
}
