package example.json

import scala.annotation.tailrec
import scala.collection.mutable

/** A minimal JSON AST with a recursive-descent parser and a printer. */
sealed trait Json {
  def render: String = Json.render(this)
}

object Json {
  case object JNull extends Json
  final case class JBool(value: Boolean) extends Json
  final case class JNumber(value: BigDecimal) extends Json
  final case class JString(value: String) extends Json
  final case class JArray(items: Vector[Json]) extends Json
  final case class JObject(fields: List[(String, Json)]) extends Json {
    def get(key: String): Option[Json] = fields.collectFirst { case (`key`, v) => v }
  }

  final case class ParseError(message: String, offset: Int) extends Exception(s"$message at offset $offset")

  def parse(text: String): Either[ParseError, Json] =
    try {
      val parser = new Parser(text)
      val value = parser.value()
      parser.skipWhitespace()
      if (parser.pos != text.length) Left(ParseError("trailing characters", parser.pos))
      else Right(value)
    } catch {
      case e: ParseError => Left(e)
    }

  private final class Parser(text: String) {
    var pos = 0

    private def fail(msg: String): Nothing = throw ParseError(msg, pos)

    private def peek: Char = if (pos < text.length) text.charAt(pos) else '\u0000'

    private def expect(c: Char): Unit = {
      if (peek != c) fail(s"expected '$c' but found '${peek}'")
      pos += 1
    }

    @tailrec
    def skipWhitespace(): Unit =
      if (pos < text.length && Character.isWhitespace(text.charAt(pos))) {
        pos += 1
        skipWhitespace()
      }

    def value(): Json = {
      skipWhitespace()
      peek match {
        case '{' => obj()
        case '[' => arr()
        case '"' => JString(str())
        case 't' => literal("true", JBool(true))
        case 'f' => literal("false", JBool(false))
        case 'n' => literal("null", JNull)
        case c if c == '-' || c.isDigit => number()
        case other => fail(s"unexpected character '$other'")
      }
    }

    private def literal(word: String, result: Json): Json =
      if (text.startsWith(word, pos)) { pos += word.length; result }
      else fail(s"expected $word")

    private def number(): Json = {
      val start = pos
      while (pos < text.length && "+-.eE0123456789".indexOf(text.charAt(pos)) >= 0) pos += 1
      val raw = text.substring(start, pos)
      try JNumber(BigDecimal(raw))
      catch { case _: NumberFormatException => fail(s"bad number '$raw'") }
    }

    private def str(): String = {
      expect('"')
      val sb = new StringBuilder
      while (peek != '"') {
        if (pos >= text.length) fail("unterminated string")
        val c = text.charAt(pos)
        pos += 1
        if (c == '\\') {
          val esc = text.charAt(pos)
          pos += 1
          esc match {
            case 'n' => sb += '\n'
            case 't' => sb += '\t'
            case 'u' =>
              sb += Integer.parseInt(text.substring(pos, pos + 4), 16).toChar
              pos += 4
            case other => sb += other
          }
        } else sb += c
      }
      expect('"')
      sb.toString
    }

    private def arr(): Json = {
      expect('[')
      val items = Vector.newBuilder[Json]
      skipWhitespace()
      if (peek == ']') { pos += 1; return JArray(Vector.empty) }
      var more = true
      while (more) {
        items += value()
        skipWhitespace()
        if (peek == ',') pos += 1 else more = false
      }
      expect(']')
      JArray(items.result())
    }

    private def obj(): Json = {
      expect('{')
      val fields = mutable.ListBuffer.empty[(String, Json)]
      skipWhitespace()
      if (peek == '}') { pos += 1; return JObject(Nil) }
      var more = true
      while (more) {
        skipWhitespace()
        val key = str()
        skipWhitespace()
        expect(':')
        fields += key -> value()
        skipWhitespace()
        if (peek == ',') pos += 1 else more = false
      }
      expect('}')
      JObject(fields.toList)
    }
  }

  private def quote(s: String): String =
    s.flatMap {
      case '"'  => "\\\""
      case '\\' => "\\\\"
      case '\n' => "\\n"
      case '\t' => "\\t"
      case c if c < ' ' => f"\\u${c.toInt}%04x"
      case c => c.toString
    }.mkString("\"", "", "\"")

  def render(json: Json): String = json match {
    case JNull          => "null"
    case JBool(b)       => b.toString
    case JNumber(n)     => n.toString
    case JString(s)     => quote(s)
    case JArray(items)  => items.map(render).mkString("[", ",", "]")
    case JObject(fields) =>
      fields.map { case (k, v) => s"${quote(k)}:${render(v)}" }.mkString("{", ",", "}")
  }
}
