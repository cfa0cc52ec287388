// expr.hpp - a small arithmetic expression parser and evaluator.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace calc {

class ParseError : public std::runtime_error {
public:
    ParseError(const std::string& what, std::size_t pos)
        : std::runtime_error(what + " at offset " + std::to_string(pos)), pos_(pos) {}

    std::size_t position() const noexcept { return pos_; }

private:
    std::size_t pos_;
};

enum class TokenKind { Number, Ident, Op, LParen, RParen, Comma, End };

struct Token {
    TokenKind kind;
    std::string text;
    double number = 0.0;
    std::size_t pos = 0;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Number { double value; };
struct Variable { std::string name; };
struct Unary { char op; NodePtr operand; };
struct Binary { char op; NodePtr lhs, rhs; };
struct Call { std::string name; std::vector<NodePtr> args; };

struct Node {
    std::variant<Number, Variable, Unary, Binary, Call> value;
};

using Environment = std::map<std::string, double, std::less<>>;

std::vector<Token> tokenize(std::string_view source);
NodePtr parse(std::string_view source);
double evaluate(const Node& node, const Environment& env);
std::string to_string(const Node& node);

}  // namespace calc
