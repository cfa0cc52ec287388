#include "expr.hpp"

#include <cctype>
#include <cmath>
#include <functional>
#include <sstream>
#include <type_traits>
#include <unordered_map>

namespace calc {
namespace {

template <class T, class U>
constexpr bool is_a = std::is_same_v<std::decay_t<T>, U>;

int precedence(char op) {
    switch (op) {
        case '+':
        case '-':
            return 1;
        case '*':
        case '/':
        case '%':
            return 2;
        case '^':
            return 3;
        default:
            return -1;
    }
}

bool right_assoc(char op) { return op == '^'; }

class Parser {
public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

    NodePtr parse_all() {
        auto node = parse_expr(0);
        if (peek().kind != TokenKind::End) {
            throw ParseError("unexpected token '" + peek().text + "'", peek().pos);
        }
        return node;
    }

private:
    const Token& peek() const { return tokens_[index_]; }
    const Token& advance() { return tokens_[index_++]; }

    void expect(TokenKind kind, const char* what) {
        if (peek().kind != kind) {
            throw ParseError(std::string("expected ") + what, peek().pos);
        }
        ++index_;
    }

    // Precedence climbing: parse operators whose precedence is >= min_prec.
    NodePtr parse_expr(int min_prec) {
        NodePtr lhs = parse_unary();
        while (peek().kind == TokenKind::Op) {
            char op = peek().text[0];
            int prec = precedence(op);
            if (prec < min_prec) break;
            advance();
            NodePtr rhs = parse_expr(right_assoc(op) ? prec : prec + 1);
            lhs = std::make_unique<Node>(Node{Binary{op, std::move(lhs), std::move(rhs)}});
        }
        return lhs;
    }

    NodePtr parse_unary() {
        if (peek().kind == TokenKind::Op && (peek().text == "-" || peek().text == "+")) {
            char op = advance().text[0];
            return std::make_unique<Node>(Node{Unary{op, parse_unary()}});
        }
        return parse_primary();
    }

    NodePtr parse_primary() {
        const Token& tok = advance();
        switch (tok.kind) {
            case TokenKind::Number:
                return std::make_unique<Node>(Node{Number{tok.number}});
            case TokenKind::Ident: {
                if (peek().kind != TokenKind::LParen) {
                    return std::make_unique<Node>(Node{Variable{tok.text}});
                }
                advance();
                Call call{tok.text, {}};
                if (peek().kind != TokenKind::RParen) {
                    do {
                        call.args.push_back(parse_expr(0));
                    } while (peek().kind == TokenKind::Comma && (advance(), true));
                }
                expect(TokenKind::RParen, "')'");
                return std::make_unique<Node>(Node{std::move(call)});
            }
            case TokenKind::LParen: {
                auto inner = parse_expr(0);
                expect(TokenKind::RParen, "')'");
                return inner;
            }
            default:
                throw ParseError("unexpected '" + tok.text + "'", tok.pos);
        }
    }

    std::vector<Token> tokens_;
    std::size_t index_ = 0;
};

const std::unordered_map<std::string, std::function<double(const std::vector<double>&)>>&
builtins() {
    static const std::unordered_map<std::string, std::function<double(const std::vector<double>&)>> table{
        {"sqrt", [](const auto& a) { return std::sqrt(a.at(0)); }},
        {"abs", [](const auto& a) { return std::fabs(a.at(0)); }},
        {"min", [](const auto& a) { return std::min(a.at(0), a.at(1)); }},
        {"max", [](const auto& a) { return std::max(a.at(0), a.at(1)); }},
        {"hypot", [](const auto& a) { return std::hypot(a.at(0), a.at(1)); }},
    };
    return table;
}

}  // namespace

std::vector<Token> tokenize(std::string_view src) {
    std::vector<Token> out;
    std::size_t i = 0;
    while (i < src.size()) {
        const unsigned char c = static_cast<unsigned char>(src[i]);
        if (std::isspace(c)) {
            ++i;
        } else if (std::isdigit(c) || c == '.') {
            std::size_t start = i;
            while (i < src.size() && (std::isdigit(static_cast<unsigned char>(src[i])) || src[i] == '.')) ++i;
            std::string text(src.substr(start, i - start));
            out.push_back({TokenKind::Number, text, std::stod(text), start});
        } else if (std::isalpha(c) || c == '_') {
            std::size_t start = i;
            while (i < src.size() && (std::isalnum(static_cast<unsigned char>(src[i])) || src[i] == '_')) ++i;
            out.push_back({TokenKind::Ident, std::string(src.substr(start, i - start)), 0.0, start});
        } else {
            TokenKind kind = TokenKind::Op;
            if (c == '(') kind = TokenKind::LParen;
            else if (c == ')') kind = TokenKind::RParen;
            else if (c == ',') kind = TokenKind::Comma;
            else if (precedence(static_cast<char>(c)) < 0)
                throw ParseError(std::string("invalid character '") + static_cast<char>(c) + "'", i);
            out.push_back({kind, std::string(1, static_cast<char>(c)), 0.0, i});
            ++i;
        }
    }
    out.push_back({TokenKind::End, "<end>", 0.0, src.size()});
    return out;
}

NodePtr parse(std::string_view source) {
    return Parser(tokenize(source)).parse_all();
}

double evaluate(const Node& node, const Environment& env) {
    return std::visit(
        [&env](const auto& n) -> double {
            using T = decltype(n);
            if constexpr (is_a<T, Number>) {
                return n.value;
            } else if constexpr (is_a<T, Variable>) {
                auto it = env.find(n.name);
                if (it == env.end()) throw std::out_of_range("unknown variable: " + n.name);
                return it->second;
            } else if constexpr (is_a<T, Unary>) {
                double x = evaluate(*n.operand, env);
                return n.op == '-' ? -x : x;
            } else if constexpr (is_a<T, Binary>) {
                double l = evaluate(*n.lhs, env), r = evaluate(*n.rhs, env);
                switch (n.op) {
                    case '+': return l + r;
                    case '-': return l - r;
                    case '*': return l * r;
                    case '/':
                        if (r == 0.0) throw std::domain_error("division by zero");
                        return l / r;
                    case '%': return std::fmod(l, r);
                    case '^': return std::pow(l, r);
                }
                throw std::logic_error("bad operator");
            } else {
                auto it = builtins().find(n.name);
                if (it == builtins().end()) throw std::out_of_range("unknown function: " + n.name);
                std::vector<double> args;
                args.reserve(n.args.size());
                for (const auto& a : n.args) args.push_back(evaluate(*a, env));
                return it->second(args);
            }
        },
        node.value);
}

std::string to_string(const Node& node) {
    std::ostringstream os;
    std::visit(
        [&os](const auto& n) {
            using T = decltype(n);
            if constexpr (is_a<T, Number>) {
                os << n.value;
            } else if constexpr (is_a<T, Variable>) {
                os << n.name;
            } else if constexpr (is_a<T, Unary>) {
                os << '(' << n.op << to_string(*n.operand) << ')';
            } else if constexpr (is_a<T, Binary>) {
                os << '(' << to_string(*n.lhs) << ' ' << n.op << ' ' << to_string(*n.rhs) << ')';
            } else {
                os << n.name << '(';
                for (std::size_t i = 0; i < n.args.size(); ++i) {
                    if (i) os << ", ";
                    os << to_string(*n.args[i]);
                }
                os << ')';
            }
        },
        node.value);
    return os.str();
}

}  // namespace calc
