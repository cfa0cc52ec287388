package org.example.json;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

/** Splits JSON text into tokens. Numbers are kept as their source text. */
public class JsonLexer implements AutoCloseable {

    public enum Type {
        LEFT_BRACE, RIGHT_BRACE, LEFT_BRACKET, RIGHT_BRACKET,
        COLON, COMMA, STRING, NUMBER, TRUE, FALSE, NULL, EOF
    }

    public record Token(Type type, String text, int line, int column) {
        @Override
        public String toString() {
            return type + (text.isEmpty() ? "" : "(" + text + ")") + "@" + line + ":" + column;
        }
    }

    public static class LexerException extends Exception {
        private final int line;

        public LexerException(String message, int line) {
            super(message + " at line " + line);
            this.line = line;
        }

        public int getLine() {
            return line;
        }
    }

    private final Reader reader;
    private int peeked = -2;
    private int line = 1;
    private int column = 0;

    public JsonLexer(Reader reader) {
        this.reader = reader;
    }

    private int peek() throws IOException {
        if (peeked == -2) {
            peeked = reader.read();
        }
        return peeked;
    }

    private int read() throws IOException {
        int c = peek();
        peeked = -2;
        if (c == '\n') {
            line++;
            column = 0;
        } else {
            column++;
        }
        return c;
    }

    public Token next() throws IOException, LexerException {
        int c;
        do {
            c = read();
        } while (c == ' ' || c == '\t' || c == '\n' || c == '\r');

        final int startColumn = column;
        switch (c) {
            case -1: return new Token(Type.EOF, "", line, startColumn);
            case '{': return new Token(Type.LEFT_BRACE, "", line, startColumn);
            case '}': return new Token(Type.RIGHT_BRACE, "", line, startColumn);
            case '[': return new Token(Type.LEFT_BRACKET, "", line, startColumn);
            case ']': return new Token(Type.RIGHT_BRACKET, "", line, startColumn);
            case ':': return new Token(Type.COLON, "", line, startColumn);
            case ',': return new Token(Type.COMMA, "", line, startColumn);
            case '"': return new Token(Type.STRING, readString(), line, startColumn);
            default:
                break;
        }
        if (c == '-' || Character.isDigit(c)) {
            return new Token(Type.NUMBER, readNumber((char) c), line, startColumn);
        }
        if (Character.isLetter(c)) {
            StringBuilder word = new StringBuilder().append((char) c);
            while (Character.isLetter(peek())) {
                word.append((char) read());
            }
            Type type = switch (word.toString()) {
                case "true" -> Type.TRUE;
                case "false" -> Type.FALSE;
                case "null" -> Type.NULL;
                default -> throw new LexerException("unknown literal '" + word + "'", line);
            };
            return new Token(type, word.toString(), line, startColumn);
        }
        throw new LexerException("unexpected character '" + (char) c + "'", line);
    }

    private String readString() throws IOException, LexerException {
        StringBuilder sb = new StringBuilder();
        while (true) {
            int c = read();
            if (c == -1) {
                throw new LexerException("unterminated string", line);
            } else if (c == '"') {
                return sb.toString();
            } else if (c == '\\') {
                int esc = read();
                switch (esc) {
                    case 'n' -> sb.append('\n');
                    case 't' -> sb.append('\t');
                    case 'r' -> sb.append('\r');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case '"', '\\', '/' -> sb.append((char) esc);
                    case 'u' -> {
                        int code = 0;
                        for (int i = 0; i < 4; i++) {
                            code = (code << 4) | Character.digit(read(), 16);
                        }
                        sb.append((char) code);
                    }
                    default -> throw new LexerException("bad escape \\" + (char) esc, line);
                }
            } else {
                sb.append((char) c);
            }
        }
    }

    private String readNumber(char first) throws IOException {
        StringBuilder sb = new StringBuilder().append(first);
        int c = peek();
        while (Character.isDigit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
            sb.append((char) read());
            c = peek();
        }
        return sb.toString();
    }

    @Override
    public void close() throws IOException {
        reader.close();
    }

    public static List<Token> tokenize(String text) throws LexerException {
        List<Token> tokens = new ArrayList<>();
        try (JsonLexer lexer = new JsonLexer(new StringReader(text))) {
            Token token;
            do {
                token = lexer.next();
                tokens.add(token);
            } while (token.type() != Type.EOF);
        } catch (IOException e) {
            throw new IllegalStateException("StringReader cannot fail", e);
        }
        return tokens;
    }
}
