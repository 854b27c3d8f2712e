// raydeploy's entry point: everything lives in raydeploy_core; see lib/raydeploy/cli.
#include "raydeploy/cli/cli.hpp"

int main(int argc, char** argv) { return raydeploy::cli::run(argc, argv); }
