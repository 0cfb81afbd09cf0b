package io.eventpipe.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Gives a test class a fresh database on the shared {@link PgServer}: declare a {@link PgDatabase}
 * parameter on a constructor, a {@code @BeforeAll}, or a test method. The database is dropped after the class.
 */
public final class PostgresExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {

  private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(PostgresExtension.class);

  @Override
  public void beforeAll(ExtensionContext context) {
    database(context);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    PgDatabase db = context.getStore(NS).remove("db", PgDatabase.class);
    if (db != null) {
      PgServer.get().dropDatabase(db);
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
    return parameterContext.getParameter().getType() == PgDatabase.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
    return database(extensionContext);
  }

  private static PgDatabase database(ExtensionContext context) {
    ExtensionContext classContext = context;
    while (classContext.getTestMethod().isPresent() && classContext.getParent().isPresent()) {
      classContext = classContext.getParent().get();
    }
    String prefix = classContext.getRequiredTestClass().getSimpleName();
    return classContext.getStore(NS).getOrComputeIfAbsent("db", k -> PgServer.get().createDatabase(prefix), PgDatabase.class);
  }
}
