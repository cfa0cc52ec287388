// Interactive calculator: reads expressions from stdin, one per line.
//   let x = 3
//   2 * x ^ 2 + sqrt(16)
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>

#include "expr.hpp"

namespace {

struct Options {
    bool show_tree = false;
    int precision = 6;
};

std::optional<Options> parse_options(int argc, char** argv) {
    Options opts;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--tree") {
            opts.show_tree = true;
        } else if (arg == "--precision" && i + 1 < argc) {
            opts.precision = std::stoi(argv[++i]);
        } else {
            std::cerr << "usage: " << argv[0] << " [--tree] [--precision N]\n";
            return std::nullopt;
        }
    }
    return opts;
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
}

}  // namespace

int main(int argc, char** argv) {
    auto opts = parse_options(argc, argv);
    if (!opts) return 2;

    calc::Environment env{{"pi", 3.141592653589793}, {"e", 2.718281828459045}};
    std::string line;
    int errors = 0;

    std::cout << std::setprecision(opts->precision);
    while (std::getline(std::cin, line)) {
        line = trim(line);
        if (line.empty() || line.front() == '#') continue;

        try {
            if (line.rfind("let ", 0) == 0) {
                const auto eq = line.find('=');
                if (eq == std::string::npos) throw calc::ParseError("expected '='", line.size());
                const std::string name = trim(line.substr(4, eq - 4));
                env[name] = calc::evaluate(*calc::parse(line.substr(eq + 1)), env);
                continue;
            }
            const auto tree = calc::parse(line);
            if (opts->show_tree) std::cout << calc::to_string(*tree) << " = ";
            std::cout << calc::evaluate(*tree, env) << '\n';
        } catch (const calc::ParseError& e) {
            std::cerr << "parse error: " << e.what() << '\n';
            ++errors;
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << '\n';
            ++errors;
        }
    }
    return errors == 0 ? 0 : 1;
}
