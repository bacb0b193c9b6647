use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = stackctl::cli::Cli::parse();
    let code = stackctl::run(cli);
    std::process::ExitCode::from(code as u8)
}
