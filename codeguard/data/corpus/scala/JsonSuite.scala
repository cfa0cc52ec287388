package example.json

import munit.FunSuite
import Json._
import syntax._

class JsonSuite extends FunSuite {

  test("parses nested structures") {
    val parsed = Json.parse("""{"a": [1, 2.5, {"b": null}], "c": true}""")
    val expected = JObject(List(
      "a" -> JArray(Vector(JNumber(1), JNumber(BigDecimal("2.5")), JObject(List("b" -> JNull)))),
      "c" -> JBool(true)
    ))
    assertEquals(parsed, Right(expected))
  }

  test("reports the offset of errors") {
    Json.parse("[1, 2,, 3]") match {
      case Left(ParseError(msg, offset)) =>
        assertEquals(offset, 6)
        assert(msg.startsWith("unexpected character"), msg)
      case Right(value) => fail(s"expected a failure, got $value")
    }
  }

  test("render escapes control characters") {
    assertEquals(JString("tab\there \"quoted\"").render, "\"tab\\there \\\"quoted\\\"\"")
  }

  test("round-trips a user through JSON") {
    val user = User("Ada", 36, List("ada@example.com", "countess@example.org"))
    val text = user.toJson.render
    val back = Json.parse(text).flatMap(j => j.as[User].left.map(new IllegalArgumentException(_)))
    assertEquals(back, Right(user))
  }

  test("decoder rejects bad fields") {
    val json = JObject(List("name" -> JString("x"), "age" -> JNumber(-1), "emails" -> JArray(Vector.empty)))
    assertEquals(json.as[User], Left("age must not be negative"))
    assertEquals(JNull.as[User], Left("cannot read field 'name' of a non-object"))
  }
}
