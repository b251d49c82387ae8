/*
 * Catalog — course search (internal.find_courses): a definer function, so full-text search can
 * use its GIN index under RLS (operators that are not leakproof cannot, for lms_api).
 */

/*
 * Catalog search. Full-text `@@` (and array `@>`) are not leakproof, so under RLS the planner
 * may not use ix_courses_search_vector for lms_api. This SECURITY DEFINER function applies the
 * visibility rule itself (published, or the named instructor's drafts for that instructor or an
 * admin), so the GIN index is usable; api.course_list then reads the rows through RLS by id.
 */
create or replace function internal.find_courses(
  p_search text, p_category text, p_tag text, p_instructor_id uuid, p_limit integer, p_offset integer)
returns table (course_id uuid, rank real)
language plpgsql
stable
rows 20
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_user_id uuid := app.current_user_id();
  v_drafts  boolean := p_instructor_id is not null and (p_instructor_id = v_user_id or internal.is_admin());
  v_query   tsquery;
  v_tag     text := nullif(lower(btrim(p_tag)), '');
begin
  if nullif(btrim(p_search), '') is not null then
    v_query := pg_catalog.websearch_to_tsquery('english'::regconfig, p_search);
    if pg_catalog.numnode(v_query) = 0 then
      v_query := null;  -- only stop words / punctuation: no text filter
    end if;
  end if;
  if v_query is null then
    return query
      select c.id, 0::real from app.courses c
      where (c.is_published or (v_drafts and c.instructor_id = p_instructor_id))
        and (p_instructor_id is null or c.instructor_id = p_instructor_id)
        and (p_category is null or c.category = p_category)
        and (v_tag is null or c.tags @> array[v_tag])
      order by c.created_at desc, c.id
      limit p_limit offset p_offset;
  else
    return query
      select c.id, pg_catalog.ts_rank(c.search_vector, v_query) as r from app.courses c
      where c.search_vector @@ v_query
        and (c.is_published or (v_drafts and c.instructor_id = p_instructor_id))
        and (p_instructor_id is null or c.instructor_id = p_instructor_id)
        and (p_category is null or c.category = p_category)
        and (v_tag is null or c.tags @> array[v_tag])
      order by r desc, c.created_at desc, c.id
      limit p_limit offset p_offset;
  end if;
end
$$;
comment on function internal.find_courses(text, text, text, uuid, integer, integer) is
  'Ids and ranks of the catalog page asked for (at most p_limit ≤ 100 rows: ROWS 20, the default page, so api.course_list joins the page to courses by primary key instead of scanning the catalog). SECURITY DEFINER so full-text search can use the GIN index (non-leakproof @@ under RLS cannot); applies the visibility rule itself: published courses, plus the named instructor''s drafts when the caller is that instructor or an admin.';
